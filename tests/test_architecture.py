"""Guards on the shape of the code base (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
PLATFORM_SDKS = ("slack_bolt", "slack_sdk", "discord", "aiohttp")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_engine_never_imports_a_platform_sdk_or_an_adapter() -> None:
    for path in sorted((ROOT / "bot").rglob("*.py")):
        imported = _imports(path)
        assert not imported & set(PLATFORM_SDKS), f"{path} imports a platform SDK"
        if path.name not in ("runner.py", "operations.py"):  # where adapters are put together
            assert "adapters" not in imported, f"{path} imports adapters"
