"""Batch change detection: scene discovery on real OSCD folders, pairing by place and date, resume, sharding."""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import geopandas as gpd
import pytest
from rasterio.transform import from_origin

from dinomc_core.errors import DinoMCError
from dinomc_core.inference.batch import consecutive_pairs, date_in_text, discover_scenes, run_batch
from dinomc_core.inference.engine import EngineOptions
from dinomc_core.inference.writers import TEMP_PREFIX
from tests.inference.builders import smooth_scene, write_raster
from tests.logs import Log

OSCD = "oscd/Onera Satellite Change Detection dataset - Images"
FP32 = EngineOptions(precision="fp32", tile_size=64)


@pytest.fixture()
def scenes(tmp_path: Path, rgbn_bands: list[str]) -> Path:
    """Place A on three dates (names out of order), place B on two dates, 1 km apart."""
    folder = tmp_path / "scenes"
    folder.mkdir()
    for place, origin in (("A", 500000), ("B", 510000)):
        for seed, date in enumerate(("20200301", "20200101", "20200201") if place == "A" else ("2021-05-01", "2021-06-01")):
            write_raster(folder / f"{place}_{date}.tif", smooth_scene(48, 56, 4, seed), rgbn_bands,
                         transform=from_origin(origin, 5400000, 10, 10))
    return folder


def test_dates_in_names() -> None:
    assert date_in_text("T31UDQ_20170829T105019_B01.tif") == dt.date(2017, 8, 29)
    assert date_in_text("scene_2021-05-01.tif") == dt.date(2021, 5, 1)
    assert date_in_text("tile_12345678901.tif") is None


def test_oscd_scenes_pair_within_each_city(shared_data: Path) -> None:
    log = Log()
    found = discover_scenes(shared_data / OSCD, progress=log)
    assert len(found) == 20 and all(scene.path.name in ("imgs_1", "imgs_2") for scene in found)
    assert any("pair/img1.png" in line and "no coordinate system" in line for line in log.lines)
    saclay = {scene.path.name: scene for scene in found if scene.path.parent.name == "saclay_e"}
    assert saclay["imgs_1"].date == dt.date(2016, 3, 15) and saclay["imgs_2"].date == dt.date(2017, 8, 29)
    assert (saclay["imgs_1"].tile_id, saclay["imgs_2"].tile_id) == ("31UDP", "31UDQ")
    pairs = consecutive_pairs(found)
    assert len(pairs) == 10
    assert all(before.path.parent == after.path.parent and before.date < after.date for before, after in pairs)


def test_batch_writes_pairs_and_summary_and_resumes(encoder_file: Path, scenes: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    records = run_batch(encoder_file, "embedding", scenes, out, options=FP32)
    assert [(record.before, record.after) for record in records] == [
        ("A_20200101.tif", "A_20200201.tif"), ("A_20200201.tif", "A_20200301.tif"), ("B_2021-05-01.tif", "B_2021-06-01.tif")]
    with open(out / "summary.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 3 and all(Path(row["change"]).is_file() and Path(row["polygons"]).is_file() for row in rows)
    assert float(rows[0]["changed_percent"]) == pytest.approx(records[0].changed_percent)
    assert len(gpd.read_file(out / "summary.gpkg")) == 3

    first = out / "A_20200101.tif__A_20200201.tif"
    finished = (first / "change.tif").stat().st_mtime_ns
    (out / "A_20200201.tif__A_20200301.tif" / "pair.json").unlink()
    (out / "A_20200201.tif__A_20200301.tif" / f"{TEMP_PREFIX}crashed-change.tif").write_bytes(b"partial")
    log = Log()
    run_batch(encoder_file, "embedding", scenes, out, options=FP32, progress=log)
    assert (first / "change.tif").stat().st_mtime_ns == finished
    assert sum("already done" in line for line in log.lines) == 2
    assert not list(out.glob(f"*/{TEMP_PREFIX}*"))
    assert len(list(out.glob("*/pair.json"))) == 3


def test_ranks_split_the_pairs(encoder_file: Path, scenes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert len(run_batch(encoder_file, "embedding", scenes, out, options=FP32)) == 1
    monkeypatch.setenv("RANK", "0")
    assert len(run_batch(encoder_file, "embedding", scenes, out, options=FP32)) == 3


def test_pairs_file_chooses_the_pairs(encoder_file: Path, scenes: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("before,after\nA_20200101.tif,A_20200301.tif\n")
    records = run_batch(encoder_file, "embedding", scenes, tmp_path / "out", pairs_csv=pairs, options=FP32)
    assert [(record.before, record.after) for record in records] == [("A_20200101.tif", "A_20200301.tif")]


def test_a_failing_pair_does_not_stop_the_others(encoder_file: Path, scenes: Path, tmp_path: Path) -> None:
    write_raster(scenes / "A_20200401.tif", smooth_scene(48, 56, 2), ["B02", "B03"], transform=from_origin(500000, 5400000, 10, 10))
    with pytest.raises(DinoMCError, match="1 of 4 pairs failed"):
        run_batch(encoder_file, "embedding", scenes, tmp_path / "out", options=FP32)
    assert len(list((tmp_path / "out").glob("*/pair.json"))) == 3
