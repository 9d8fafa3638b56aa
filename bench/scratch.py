"""Scratch folders for the benchmarks, removed when the benchmark's process ends: a history database is
hundreds of megabytes, and runs repeated by hand must not fill the disk."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

__all__ = ["scratch_dir"]


def scratch_dir(prefix: str = "paperbot-bench-") -> Path:
    """A new empty folder, deleted with everything in it at the process's exit."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path
