"""Install the plugin zip into a QGIS profile, enable it, and record the worker environment (``make qgis-install``).

Standard library only: it runs before (and without) the project's virtual environment being importable.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import zipfile
from pathlib import Path

PLUGIN = "dinomc_qgis"
SECTION = "PythonPlugins"


def enable_plugin(settings: Path, plugin: str) -> None:
    """Set ``plugin=true`` in the ``[PythonPlugins]`` section of a QGIS3.ini, keeping every other line as it is."""
    lines = settings.read_text(encoding="utf-8").splitlines() if settings.exists() else []
    entry = f"{plugin}=true"
    header = next((index for index, line in enumerate(lines) if line.strip() == f"[{SECTION}]"), None)
    if header is None:
        lines += ([""] if lines else []) + [f"[{SECTION}]", entry]
    else:
        end = next((index for index in range(header + 1, len(lines)) if re.match(r"^\s*\[", lines[index])), len(lines))
        existing = [index for index in range(header + 1, end) if lines[index].split("=", 1)[0].strip() == plugin]
        if existing:
            lines[existing[0]] = entry
        else:
            lines.insert(header + 1, entry)
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text("\n".join(lines) + "\n", encoding="utf-8")


def install(archive: Path, profile: Path, python: Path, source: Path) -> Path:
    """Unpack the plugin into ``profile/python/plugins``, enable it, record the worker; returns the plugin folder."""
    if not python.is_file():
        raise SystemExit(f"error: the worker Python {python} does not exist; run `make -C {source} setup` first")
    plugins = profile / "python" / "plugins"
    target = plugins / PLUGIN
    shutil.rmtree(target, ignore_errors=True)
    plugins.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as content:
        content.extractall(plugins)
    (target / "worker.json").write_text(json.dumps({"python": str(python), "source": str(source)}, indent=2) + "\n")
    enable_plugin(profile / "QGIS" / "QGIS3.ini", PLUGIN)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("archive", type=Path, help="the plugin zip (make plugin)")
    parser.add_argument("--profile", type=Path, required=True, help="QGIS profile folder")
    parser.add_argument("--python", type=Path, required=True, help="the worker environment's python")
    parser.add_argument("--source", type=Path, required=True, help="the checkout whose make sets up that environment")
    args = parser.parse_args(argv)
    target = install(args.archive, args.profile.expanduser(), args.python, args.source)
    print(f"installed {target}, enabled in {args.profile / 'QGIS' / 'QGIS3.ini'}; worker: {args.python}")
    print("restart QGIS to load it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
