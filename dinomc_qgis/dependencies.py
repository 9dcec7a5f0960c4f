"""Which of the Python packages the algorithms need are missing from the Python that QGIS runs, and how to add them."""
from __future__ import annotations

import importlib.util
import sys

REQUIRED_MODULES = ("torch", "timm", "rasterio", "geopandas", "safetensors", "dinomc_core")
PIP_NAMES = {"dinomc_core": "dinomc"}


def missing_modules() -> list[str]:
    """The required modules that cannot be imported here."""
    return [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]


def missing_message(missing: list[str]) -> str:
    """One sentence naming the missing packages and the command that installs them for this QGIS's Python."""
    packages = " ".join(PIP_NAMES.get(name, name) for name in missing)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (
        f"DINO-MC needs the Python packages {', '.join(missing)}, which the Python {version} that QGIS uses cannot "
        f"import; install them for it (for example: python{version} -m pip install {packages} 'numpy<2') "
        "or add the virtual environment that has them to PYTHONPATH, then restart QGIS"
    )


def use_qgis_compatible_vector_io() -> None:
    """Write vectors through fiona when it is there (Debian's fiona uses QGIS's own GDAL).

    pyogrio's wheel brings a second GDAL into the QGIS process, and QGIS then crashes when it exits.
    """
    if importlib.util.find_spec("fiona") is None:
        return
    import geopandas

    geopandas.options.io_engine = "fiona"
