"""Fixtures shared by the pretraining tests: one torch thread (the machine is shared) and small real inputs."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

EUROSAT_FOLDER = "eurosat_ms/ds/images/remote_sensing/otherDatasets/sentinel_2/tif"


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Intra-op threads spin badly on a busy shared machine; one thread keeps test times steady."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def eurosat_class_folder(shared_data: Path) -> Path:
    """Eight real 13-band 64 px EuroSAT chips of one class."""
    return shared_data / EUROSAT_FOLDER / "Forest"
