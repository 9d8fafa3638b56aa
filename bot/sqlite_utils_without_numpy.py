"""Import sqlite-utils without numpy, for the command line's start-up.

sqlite-utils tries ``import numpy`` (and pandas) when it is imported, only to map numpy's scalar types to
column types when a table is created from Python values. paperbot never hands it numpy values (vectors
are stored as bytes by raw SQL), but the attempt alone costs about 70 ms, a quarter of what `paperbot
status` waits for. So the command line imports sqlite-utils first, with numpy and pandas marked absent
while it does; a later ``import numpy`` (computing embeddings) works as usual.
"""

from __future__ import annotations

import sys

__all__ = ["import_sqlite_utils_without_numpy"]

_SKIPPED = ("numpy", "pandas")


def import_sqlite_utils_without_numpy() -> None:
    """Import sqlite_utils with numpy and pandas hidden from it; nothing if either is already imported."""
    if "sqlite_utils" in sys.modules or any(name in sys.modules for name in _SKIPPED):
        return
    for name in _SKIPPED:
        sys.modules[name] = None  # type: ignore[assignment]  # None in sys.modules: `import` raises ImportError
    try:
        import sqlite_utils  # noqa: F401
    finally:
        for name in _SKIPPED:
            if sys.modules.get(name) is None:
                del sys.modules[name]
