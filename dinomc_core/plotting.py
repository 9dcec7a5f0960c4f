"""Matplotlib for report pictures: a file-only backend, and quiet about Debian's mpl_toolkits.

Beside QGIS, Debian's matplotlib (a QGIS dependency) sits next to the virtual environment's; its ``mpl_toolkits``
shadows the environment's and matplotlib warns that 3-D axes are unavailable. We draw no 3-D plots.
"""
from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Unable to import Axes3D")
    import matplotlib.pyplot as pyplot  # noqa: E402  (after the backend is chosen)
    from matplotlib.figure import Figure  # noqa: E402

__all__ = ["Figure", "pyplot"]
