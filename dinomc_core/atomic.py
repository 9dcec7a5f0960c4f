"""Writing files so that readers only ever see a whole file: write beside it, then rename over it."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces it only when the block succeeds (removed otherwise).

    The file gets the permissions a plain ``open`` would give it (``mkstemp`` alone would leave it private).
    """
    final = Path(path)
    handle, temporary = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, final)
    finally:
        Path(temporary).unlink(missing_ok=True)


def write_json_atomically(path: str | os.PathLike, content: Any) -> Path:
    """Write ``content`` as indented JSON, atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(content, indent=2))
    return Path(path)
