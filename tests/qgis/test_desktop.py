"""The real QGIS desktop (``/usr/bin/qgis`` on an Xvfb display, Mesa's software OpenGL), as an analyst gets it.

A fresh profile gets the plugin the way the README says (``make qgis-install PROFILE=...``); a startup script
(desktop_session.py) runs trainhead (UTM and EPSG:4326 rasters), classify, change, embed and batchchange through
Processing on real samples, then embed and a cancelled classify as the dialog runs them (a background task), reports
what the QGIS session shows, and quits. QGIS must exit normally.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np

SESSION_SCRIPT = Path(__file__).with_name("desktop_session.py")
DESKTOP_TIMEOUT_S = 420


def run_desktop(job: dict, profiles: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """QGIS with its own environment: no PYTHONPATH (QGIS's Python must not see the worker's packages)."""
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(job))
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "QT_QPA_PLATFORM")}
    environment.update({"DINOMC_DESKTOP_JOB": str(job_file), "XDG_RUNTIME_DIR": str(runtime)})
    command = ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", "/usr/bin/qgis", "--profiles-path", str(profiles),
               "--nologo", "--noversioncheck", "--code", str(SESSION_SCRIPT)]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=DESKTOP_TIMEOUT_S)


def test_the_desktop_runs_every_algorithm_and_shows_styled_named_layers(
    qgis_install, rgb_encoder, landsat, bercy_dates, bercy_scenes, tmp_path
):
    profiles = tmp_path / "qgis"
    installed = qgis_install(profiles / "profiles" / "default")
    assert json.loads((installed / "worker.json").read_text())["python"].endswith("/bin/python")
    out = tmp_path / "out"
    out.mkdir()
    screenshots = os.environ.get("DINOMC_SCREENSHOTS")  # set to docs/ to refresh the README's pictures
    job = {"landsat": str(landsat), "encoder": str(rgb_encoder), "before": str(bercy_dates[0]), "after": str(bercy_dates[1]),
           "scenes": str(bercy_scenes), "out": str(out), "report": str(tmp_path / "report.json"), "repeats": 1,
           "screenshots": screenshots}
    completed = run_desktop(job, profiles, tmp_path)
    log = (completed.stdout + completed.stderr)[-3000:]
    assert completed.returncode == 0, f"QGIS exited with {completed.returncode}:\n{log}"
    report = json.loads((tmp_path / "report.json").read_text())
    assert "error" not in report, report.get("error")
    assert report["provider"] and report["heavy_at_start"] == [] and report["heavy_at_end"] == []
    [session] = report["runs"]
    assert 0.0 <= session["trainhead_utm"]["accuracy"] <= 1.0 and 0.0 <= session["trainhead_geographic"]["accuracy"] <= 1.0

    classify = {layer["name"]: layer for layer in session["classify"]["layers"]}
    assert set(classify) == {"RGB land cover (drawn_utm_0)", "RGB land cover (drawn_utm_0) polygons",
                             "RGB land cover (drawn_utm_0) confidence"}
    assert classify["RGB land cover (drawn_utm_0)"]["renderer"] == "paletted"
    polygons = classify["RGB land cover (drawn_utm_0) polygons"]
    assert polygons["renderer"] == "categorizedSymbol" and sorted(polygons["legend"]) == ["bright", "dark"]
    assert polygons["features"] > 0 and polygons["empty"] == 0 and polygons["invalid"] == 0
    written = gpd.read_file(polygons["source"])
    assert len(written) == polygons["features"] and written.is_valid.all() and not written.is_empty.any()
    assert np.isclose(written.area.sum(), polygons["area"], rtol=1e-6)

    change = {layer["name"]: layer for layer in session["change"]["layers"]}
    title = "Change bercy_imgs_1 → bercy_imgs_2"
    assert change[title]["legend"] == ["unchanged", "changed"]
    assert change[f"{title} polygons"]["features"] > 0 and change[f"{title} polygons"]["invalid"] == 0
    order = session["change"]["order"]
    assert order.index(title) < order.index(f"{title} magnitude")
    assert [layer["renderer"] for layer in session["embed"]["layers"]] == ["multibandcolor"]
    assert session["batchchange"]["pairs"] == 1 and Path(session["batchchange"]["summary"]).is_file()

    threaded = report["threaded"]  # the dialog's way: on a background thread
    assert threaded["embed"]["ok"] and threaded["embed"]["written"]
    cancelled = threaded["cancelled_classify"]
    assert not cancelled["ok"] and cancelled["cancel_seconds"] < 5.0 and cancelled["left"] == []
