"""Batch change detection over a folder of scenes: discovery, pairing by place and date, resume, sharding.

Scenes are multi-band rasters and one-file-per-band folders. Scenes of one place (footprints overlapping by half their
union, or at all for the same Sentinel-2 tile id) are ordered by date (raster metadata, an OSCD ``dates.txt``, or a date
such as 20170829 in the names) and consecutive dates are paired, unless a ``pairs.csv`` lists the pairs. Each pair
lands in its own folder by atomic renames and is marked done by a record written last, so a re-run skips
finished pairs and redoes a pair interrupted by a crash. Under ``torchrun`` (``RANK``/``WORLD_SIZE``) each
process takes every WORLD_SIZE-th pair.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import geopandas as gpd
import rasterio
import shapely
from rasterio.warp import transform_bounds
from torch import nn

from dinomc_core.atomic import write_json_atomically
from dinomc_core.data import band_files, open_scene
from dinomc_core.data.raster import is_raster_file
from dinomc_core.errors import CancelledError, DinoMCError
from dinomc_core.inference.align import scene_bounds
from dinomc_core.inference.change import ChangeOutputs, ChangeStats, ThresholdRule, detect_change, load_change_model
from dinomc_core.inference.engine import EngineOptions
from dinomc_core.inference.writers import TEMP_PREFIX, check_writable_folder
from dinomc_core.progress import Progress, SilentProgress

SAME_PLACE_IOU = 0.5
RECORD_NAME = "pair.json"
SUMMARY_COLUMNS = (
    "before", "after", "before_date", "after_date", "threshold", "changed_pixels", "valid_pixels",
    "changed_hectares", "changed_percent", "change", "magnitude", "polygons",
)
_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])(?!\d)")
_TILE_ID = re.compile(r"(?<![A-Z0-9])T(\d{2}[A-Z]{3})(?![A-Z0-9])")
_OSCD_DATE_LINE = re.compile(r"date_(\d+)\s*:\s*(\d{8})")


@dataclass(frozen=True)
class SceneInfo:
    """A scene found in the folder: where it is, when and where it was taken."""

    path: Path
    name: str
    date: dt.date | None
    tile_id: str | None
    footprint: shapely.Polygon


@dataclass(frozen=True)
class PairRecord:
    """One processed pair, as written to its ``pair.json`` and to the summary."""

    before: str
    after: str
    before_date: str
    after_date: str
    threshold: float
    changed_pixels: int
    valid_pixels: int
    changed_hectares: float
    changed_percent: float
    change: str
    magnitude: str
    polygons: str
    footprint: str


def discover_scenes(folder: Path, skip: Sequence[Path] = (), progress: Progress | None = None) -> list[SceneInfo]:
    """Every georeferenced scene under ``folder`` (band folders are scenes, not searched further)."""
    progress = progress or SilentProgress()
    found = []
    for path in _scene_paths(folder, [item.resolve() for item in skip]):
        info = describe_scene(path, folder)
        if info is None:
            progress.log(f"skipped {path}: it has no coordinate system, so its place is unknown")
        else:
            found.append(info)
    return found


def _scene_paths(folder: Path, skip: list[Path]) -> Iterator[Path]:
    """Raster files and band folders under ``folder``, in name order, hidden files and ``skip`` left out."""
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.resolve() in skip:
            continue
        if entry.is_dir():
            if band_files(entry):
                yield entry
            else:
                yield from _scene_paths(entry, skip)
        elif is_raster_file(entry):
            yield entry


def describe_scene(path: Path, root: Path) -> SceneInfo | None:
    """Name, date, tile id and footprint (in WGS 84) of a scene; None when it is not georeferenced."""
    with open_scene(path) as scene:
        if scene.crs is None:
            return None
        footprint = shapely.box(*transform_bounds(scene.crs, "EPSG:4326", *scene_bounds(scene)))
    names = [path.name] + ([file.name for file in band_files(path).values()] if path.is_dir() else [])
    return SceneInfo(path, path.relative_to(root).as_posix(), scene_date(path, names), tile_id(names), footprint)


def scene_date(path: Path, names: Sequence[str]) -> dt.date | None:
    """The acquisition date: raster metadata, an OSCD ``dates.txt`` beside the scene, else a date in the names."""
    return _metadata_date(path) or _dates_file_date(path) or next(filter(None, map(date_in_text, names)), None)


def date_in_text(text: str) -> dt.date | None:
    """The first valid date written as 20170829 or 2017-08-29 in ``text``."""
    for match in _DATE.finditer(text):
        try:
            return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            continue
    return None


def _metadata_date(path: Path) -> dt.date | None:
    """A date in the raster's tags (TIFFTAG_DATETIME, ACQUISITION...), for a band folder in its first band."""
    file = next(iter(band_files(path).values())) if path.is_dir() else path
    with rasterio.open(file) as dataset:
        tags = dataset.tags()
    for key, value in sorted(tags.items()):
        if "DATE" in key.upper() or "TIME" in key.upper():
            found = date_in_text(value.replace(":", "-", 2) if key.upper() == "TIFFTAG_DATETIME" else value)
            if found:
                return found
    return None


def _dates_file_date(path: Path) -> dt.date | None:
    """OSCD layout: ``<city>/dates.txt`` holds ``date_1: YYYYMMDD`` for ``imgs_1`` and ``date_2`` for ``imgs_2``."""
    dates_file = path.parent / "dates.txt"
    suffix = re.search(r"_(\d+)$", path.name)
    if not dates_file.is_file() or suffix is None:
        return None
    dates = {number: text for number, text in _OSCD_DATE_LINE.findall(dates_file.read_text())}
    return date_in_text(dates[suffix.group(1)]) if suffix.group(1) in dates else None


def tile_id(names: Sequence[str]) -> str | None:
    """A Sentinel-2 MGRS tile id such as ``31UDQ`` in the names, if any."""
    for name in names:
        match = _TILE_ID.search(name)
        if match:
            return match.group(1)
    return None


def same_place(first: SceneInfo, second: SceneInfo) -> bool:
    """Footprints overlapping by half their union, or overlapping at all when the names carry the same tile id.

    A tile id alone is not enough: OSCD cities are crops of one Sentinel-2 tile.
    """
    overlap = first.footprint.intersection(second.footprint).area
    if first.tile_id and first.tile_id == second.tile_id and overlap > 0:
        return True
    union = first.footprint.union(second.footprint).area
    return union > 0 and overlap / union >= SAME_PLACE_IOU


def group_by_place(scenes: Sequence[SceneInfo]) -> list[list[SceneInfo]]:
    """Scenes of one place together (connected through :func:`same_place`), in order of first appearance."""
    parent = list(range(len(scenes)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    for first in range(len(scenes)):
        for second in range(first + 1, len(scenes)):
            if same_place(scenes[first], scenes[second]):
                parent[root(second)] = root(first)
    groups: dict[int, list[SceneInfo]] = {}
    for index, scene in enumerate(scenes):
        groups.setdefault(root(index), []).append(scene)
    return list(groups.values())


def consecutive_pairs(scenes: Sequence[SceneInfo], progress: Progress | None = None) -> list[tuple[SceneInfo, SceneInfo]]:
    """Pairs of consecutive dates at each place; undated scenes are left out (and the log says so)."""
    progress = progress or SilentProgress()
    pairs = []
    for group in group_by_place(scenes):
        dated = sorted((scene for scene in group if scene.date), key=lambda scene: (scene.date, scene.name))
        for scene in group:
            if scene.date is None and len(group) > 1:
                progress.log(f"skipped {scene.name}: no date in its metadata or name, so it cannot be ordered")
        pairs.extend(zip(dated[:-1], dated[1:]))
    return pairs


def listed_pairs(pairs_csv: Path, scenes: Sequence[SceneInfo], root: Path) -> list[tuple[SceneInfo, SceneInfo]]:
    """The pairs of a CSV with ``before`` and ``after`` columns (paths relative to the scene folder, or absolute)."""
    by_path = {scene.path.resolve(): scene for scene in scenes}
    if not pairs_csv.is_file():
        raise DinoMCError(f"the pairs file {pairs_csv} does not exist")
    with open(pairs_csv, newline="") as stream:
        rows = list(csv.DictReader(stream))
    if not rows or not {"before", "after"} <= set(rows[0]):
        raise DinoMCError(f"{pairs_csv} needs a header line with 'before' and 'after' columns and one row per pair")
    pairs = []
    for row in rows:
        found = [by_path.get((root / row[key].strip()).resolve()) for key in ("before", "after")]
        if None in found:
            raise DinoMCError(f"{pairs_csv} lists {row['before']} -> {row['after']}, which are not both scenes in {root}")
        pairs.append((found[0], found[1]))
    return pairs


def shard(pairs: Sequence, rank: int, world_size: int) -> list:
    """This process's share: every ``world_size``-th pair starting at ``rank``."""
    return list(pairs[rank::world_size])


def launcher_rank() -> tuple[int, int]:
    """(RANK, WORLD_SIZE) set by torchrun or another launcher; (0, 1) alone."""
    try:
        rank, world_size = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise DinoMCError("RANK and WORLD_SIZE must be whole numbers when set") from None
    if not 0 <= rank < world_size:
        raise DinoMCError(f"RANK {rank} is not between 0 and WORLD_SIZE - 1 ({world_size - 1})")
    return rank, world_size


def pair_folder(out_dir: Path, before: SceneInfo, after: SceneInfo) -> Path:
    """``OUTDIR/<before>__<after>`` with the scenes' relative paths flattened."""
    return out_dir / f"{before.name.replace('/', '-')}__{after.name.replace('/', '-')}"


def process_pair(
    model: nn.Module, method: str, before: SceneInfo, after: SceneInfo, folder: Path,
    threshold: float | ThresholdRule | None,
    bands: list[str] | str | None, options: EngineOptions, progress: Progress, cog: bool = False,
) -> PairRecord:
    """Map one pair's change into ``folder`` (leftovers of a crashed attempt removed first) and record it."""
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob(f"{TEMP_PREFIX}*"):
        leftover.unlink()
    outputs = ChangeOutputs(folder / "change.tif", folder / "magnitude.tif", folder / "changes.gpkg", cog=cog)
    stats = detect_change(model, method, before.path, after.path, outputs, threshold, bands, options, progress)
    record = pair_record(before, after, outputs, stats)
    write_json_atomically(folder / RECORD_NAME, asdict(record))
    return record


def pair_record(before: SceneInfo, after: SceneInfo, outputs: ChangeOutputs, stats: ChangeStats) -> PairRecord:
    return PairRecord(
        before=before.name, after=after.name, before_date=_iso(before.date), after_date=_iso(after.date),
        threshold=stats.threshold, changed_pixels=stats.changed_pixels, valid_pixels=stats.valid_pixels,
        changed_hectares=stats.changed_hectares, changed_percent=stats.changed_percent,
        change=str(outputs.change), magnitude=str(outputs.magnitude), polygons=str(outputs.polygons),
        footprint=before.footprint.intersection(after.footprint).wkt,
    )


def _iso(date: dt.date | None) -> str:
    return date.isoformat() if date else ""


def read_records(out_dir: Path) -> list[PairRecord]:
    """Every finished pair under ``out_dir`` (by any process), in folder order."""
    return [PairRecord(**json.loads(path.read_text())) for path in sorted(out_dir.glob(f"*/{RECORD_NAME}"))]


@contextmanager
def summary_lock(out_dir: Path) -> Iterator[None]:
    """Serialise summary writing between processes where the platform can lock files (POSIX)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(out_dir / f"{TEMP_PREFIX}summary.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_summary(out_dir: Path) -> list[PairRecord]:
    """``summary.csv`` (one row per pair) and ``summary.gpkg`` (pair footprints with the same columns)."""
    with summary_lock(out_dir):
        records = read_records(out_dir)
        table = out_dir / f"{TEMP_PREFIX}summary.csv"
        with open(table, "w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=SUMMARY_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(asdict(record) for record in records)
        layer = out_dir / f"{TEMP_PREFIX}summary.gpkg"
        rows = [{key: value for key, value in asdict(record).items() if key != "footprint"} for record in records]
        geometry = gpd.GeoSeries([shapely.from_wkt(record.footprint) for record in records], crs="EPSG:4326")
        frame = gpd.GeoDataFrame(rows, columns=list(SUMMARY_COLUMNS), geometry=geometry)
        frame.to_file(layer, layer="pairs", driver="GPKG", geometry_type="Polygon")
        os.replace(table, out_dir / "summary.csv")
        os.replace(layer, out_dir / "summary.gpkg")
    return records


def run_batch(
    model_path: str | os.PathLike,
    method: str,
    scenes_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    pairs_csv: str | os.PathLike | None = None,
    threshold: float | ThresholdRule | None = None,
    bands: list[str] | str | None = None,
    options: EngineOptions = EngineOptions(),
    progress: Progress | None = None,
    cog: bool = False,
) -> list[PairRecord]:
    """Change maps for every pair of a scene folder (this process's share of them); returns the summary's records."""
    progress = progress or SilentProgress()
    scenes_dir, out_dir = Path(scenes_dir), Path(out_dir)
    if not scenes_dir.is_dir():
        raise DinoMCError(f"the scene folder {scenes_dir} does not exist")
    out_dir.mkdir(parents=True, exist_ok=True)
    check_writable_folder(out_dir)
    rank, world_size = launcher_rank()
    model = load_change_model(model_path, method)
    scenes = discover_scenes(scenes_dir, skip=[out_dir], progress=progress)
    pairs = listed_pairs(Path(pairs_csv), scenes, scenes_dir) if pairs_csv else consecutive_pairs(scenes, progress)
    mine = shard(pairs, rank, world_size)
    progress.log(f"{len(scenes)} scenes, {len(pairs)} pairs; this process (rank {rank} of {world_size}) takes {len(mine)}")
    failures = []
    for before, after in mine:
        folder = pair_folder(out_dir, before, after)
        if (folder / RECORD_NAME).is_file():
            progress.log(f"{folder.name}: already done")
            continue
        try:
            process_pair(model, method, before, after, folder, threshold, bands, options, progress, cog)
        except CancelledError:
            raise
        except DinoMCError as error:
            progress.log(f"{folder.name}: failed: {error}")
            failures.append(folder.name)
    records = write_summary(out_dir)
    if failures:
        raise DinoMCError(f"{len(failures)} of {len(mine)} pairs failed ({', '.join(failures)}); see the messages above")
    return records
