"""Finding the worker Python: the recorded environment, the setting that overrides it, the messages that fix it."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from dinomc_qgis.environment import (
    WorkerEnvironment,
    WorkerEnvironmentError,
    missing_package_message,
    recorded_environment,
    worker_environment,
)


@pytest.fixture
def record(tmp_path):
    path = tmp_path / "worker.json"
    path.write_text(json.dumps({"python": sys.executable, "source": "/src/dinomc"}))
    return path


def test_the_recorded_environment_is_the_default(record):
    assert worker_environment("", record) == WorkerEnvironment(Path(sys.executable), Path("/src/dinomc"))


def test_the_setting_overrides_the_recorded_python(record):
    assert worker_environment("/usr/bin/python3", record).python == Path("/usr/bin/python3")


def test_nothing_recorded_says_how_to_set_it_up(tmp_path):
    assert recorded_environment(tmp_path / "absent.json") is None
    with pytest.raises(WorkerEnvironmentError, match=r"no worker environment .*run `make qgis-install` in the DINO-MC source folder, or set"):
        worker_environment("", tmp_path / "absent.json")


def test_a_vanished_python_names_the_checkout_to_run_make_in(tmp_path):
    record = tmp_path / "worker.json"
    record.write_text(json.dumps({"python": str(tmp_path / "venv" / "bin" / "python"), "source": "/src/dinomc"}))
    with pytest.raises(WorkerEnvironmentError, match=r"does not exist; run `make -C /src/dinomc qgis-install`"):
        worker_environment("", record)


def test_a_garbled_record_counts_as_none(tmp_path):
    record = tmp_path / "worker.json"
    record.write_text("{not json")
    assert recorded_environment(record) is None


def test_missing_package_message_names_the_package_and_the_command():
    environment = WorkerEnvironment(Path("/venv/bin/python"), Path("/src/dinomc"))
    assert missing_package_message(environment, "timm") == (
        "DINO-MC's worker Python /venv/bin/python cannot import timm; run `make -C /src/dinomc qgis-install` "
        "to set up that environment again, then run again"
    )
