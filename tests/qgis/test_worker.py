"""The worker process seen from QGIS: cancel, a worker that dies, a missing or broken worker environment, and a
plugin that never loads the model packages into QGIS's own process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import psutil
import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback

from dinomc_qgis.environment import fix_command

HEAVY_PACKAGES = ("torch", "timm", "rasterio", "shapely", "geopandas")


def run(algorithm_id, parameters, feedback):
    import processing

    return processing.run(algorithm_id, parameters, feedback=feedback)


class ActOnFirstProgress(QgsProcessingFeedback):
    """Calls ``action`` once, when the worker reports its first tile done (the run is under way)."""

    def __init__(self, action) -> None:
        super().__init__()
        self.action = action
        self.acted_at: float | None = None

    def setProgress(self, progress: float) -> None:  # noqa: N802 (QGIS's name)
        super().setProgress(progress)
        if progress > 0 and self.acted_at is None:
            self.acted_at = time.monotonic()
            self.action(self)


def worker_processes():
    return [child for child in psutil.Process().children(recursive=True) if "dinomc_core" in " ".join(child.cmdline())]


@pytest.fixture
def worker_python(dinomc_provider):
    """Sets the provider's "Worker Python" for one test, then puts the test's own Python back."""
    import sys

    from processing.core.ProcessingConfig import ProcessingConfig

    from dinomc_qgis.settings import WORKER_PYTHON

    yield lambda python: ProcessingConfig.setSettingValue(WORKER_PYTHON, python)
    ProcessingConfig.setSettingValue(WORKER_PYTHON, sys.executable)


def long_classification(model, landsat, folder):
    """Small tiles, one per batch, over the whole Landsat scene, every output: a run of many seconds on CPU."""
    return {"INPUT": str(landsat), "MODEL": str(model), "OUTPUT": str(folder / "classes.tif"), "TILE_SIZE": 64,
            "BATCH_SIZE": 1, "PROBABILITIES": str(folder / "probabilities.tif"), "CONFIDENCE": str(folder / "confidence.tif"),
            "POLYGONS": str(folder / "classes.gpkg"), "SUMMARY": str(folder / "areas.csv")}


def test_cancel_stops_the_worker_within_seconds_and_leaves_nothing(dinomc_provider, drawn_model, landsat, tmp_path):
    feedback = ActOnFirstProgress(lambda feedback: feedback.cancel())
    with pytest.raises(QgsProcessingException, match="cancelled"):
        run("dinomc:classify", long_classification(drawn_model, landsat, tmp_path), feedback)
    assert time.monotonic() - feedback.acted_at < 5.0
    assert worker_processes() == []
    assert list(tmp_path.iterdir()) == []


def test_a_killed_worker_is_one_sentence_and_qgis_carries_on(dinomc_provider, drawn_model, rgb_encoder, landsat, tmp_path):
    def kill_worker(feedback) -> None:
        for process in worker_processes():
            process.send_signal(signal.SIGKILL)

    with pytest.raises(QgsProcessingException, match=r"^DINO-MC's worker process was killed by signal SIGKILL; the end of its log:"):
        run("dinomc:classify", long_classification(drawn_model, landsat, tmp_path), ActOnFirstProgress(kill_worker))
    assert not (tmp_path / "classes.tif").exists()
    output = tmp_path / "embeddings.tif"  # and the next run works
    run("dinomc:embed", {"INPUT": str(landsat), "MODEL": str(rgb_encoder), "OUTPUT": str(output)}, QgsProcessingFeedback())
    assert output.is_file()


def test_a_vanished_worker_python_names_the_fixing_command(rgb_encoder, landsat, tmp_path, worker_python):
    python = tmp_path / "gone" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.touch()
    worker_python(str(python))  # the setting only takes paths that exist
    python.unlink()  # then the environment is deleted
    with pytest.raises(QgsProcessingException, match=r"worker Python .*gone/bin/python does not exist; run `make qgis-install` in the DINO-MC source folder"):
        run("dinomc:embed", {"INPUT": str(landsat), "MODEL": str(rgb_encoder), "OUTPUT": str(tmp_path / "e.tif")},
            QgsProcessingFeedback())


def test_a_worker_python_without_the_packages_names_the_missing_one(rgb_encoder, landsat, tmp_path, worker_python):
    worker_python("/usr/bin/python3")  # QGIS's own Python: it has no torch
    with pytest.raises(QgsProcessingException, match=r"worker Python /usr/bin/python3 cannot import (torch|geopandas|rasterio|timm); run `make"):
        run("dinomc:embed", {"INPUT": str(landsat), "MODEL": str(rgb_encoder), "OUTPUT": str(tmp_path / "e.tif")},
            QgsProcessingFeedback())


def test_the_plugin_loads_without_the_model_packages_and_says_what_to_do(repo_root, tmp_path):
    """In QGIS's own Python (no virtual environment), with nothing recorded: the provider registers, its algorithms
    refuse to run with the command that fixes it, and none of the model packages is imported."""
    script = """
import json, sys
from qgis.core import QgsApplication, QgsProcessingFeedback
app = QgsApplication([], False)
app.initQgis()
sys.path.append('/usr/share/qgis/python/plugins')
from processing.core.Processing import Processing
Processing.initialize()
import processing
from dinomc_qgis.plugin import DinoMCPlugin
plugin = DinoMCPlugin(None)
plugin.initProcessing()
try:
    processing.run('dinomc:embed', {'INPUT': sys.argv[1], 'MODEL': sys.argv[2], 'OUTPUT': sys.argv[3]})
    message = ''
except Exception as error:
    message = str(error)
print(json.dumps({'algorithms': len(plugin.provider.algorithms()), 'message': message,
                  'heavy': sorted(name for name in %r if name in sys.modules)}))
""" % (HEAVY_PACKAGES,)
    environment = {**os.environ, "PYTHONPATH": str(repo_root), "QT_QPA_PLATFORM": "offscreen",
                   "QGIS_CUSTOM_CONFIG_PATH": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)}
    landsat = repo_root / "samples" / "landsat_rgb" / "RGB.byte.tif"
    completed = subprocess.run(["/usr/bin/python3", "-c", script, str(landsat), str(tmp_path / "m.dinomc"), str(tmp_path / "e.tif")],
                               env=environment, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["algorithms"] == 5 and report["heavy"] == []
    assert "DINO-MC has no worker environment" in report["message"] and fix_command(None) in report["message"]


def test_the_desktop_warns_at_start_when_no_worker_is_set_up(qgis_iface, worker_python, monkeypatch):
    from qgis.core import Qgis

    from dinomc_qgis.plugin import DinoMCPlugin

    worker_python("")  # and nothing recorded beside the plugin (this checkout was never installed)
    plugin = DinoMCPlugin(qgis_iface)
    monkeypatch.setattr(plugin, "initProcessing", lambda: None)  # the session's provider is registered already
    plugin.initGui()
    [warning] = qgis_iface.messageBar().get_messages(Qgis.Warning)
    assert "DINO-MC has no worker environment" in warning and fix_command(None) in warning
