"""Shared fixtures: the real data samples that live beside the repository in ../shared/data."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# QGIS (loaded by pytest-qgis) needs a Qt platform; tests run headless.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    configured = os.environ.get("DINOMC_SHARED_DATA")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real samples (EuroSAT, OSCD, BigEarthNet, Landsat); set DINOMC_SHARED_DATA to move it."""
    root = _shared_data_dir()
    if not root.is_dir():
        pytest.fail(f"the real data samples are missing at {root}; clone the project beside shared/ or set DINOMC_SHARED_DATA")
    return root


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
