"""The README documents every CLI command and every /paper sub-command, and the config example every key."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from bot.cli import build_parser
from bot.commands import markdown_reference
from bot.config import SCHEMA

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def test_every_cli_command_is_documented() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in sub.choices:
        assert f"`paperbot {name}" in README, f"paperbot {name} is not in the README"


def test_chat_command_table_is_generated_from_the_registry() -> None:
    table = README.split("<!-- commands:start -->")[1].split("<!-- commands:end -->")[0].strip()
    assert table == markdown_reference()


def test_config_example_names_every_key() -> None:
    example = (ROOT / "config.example.toml").read_text()
    for section, keys in SCHEMA.items():
        assert f"[{section}]" in example
        for key in keys:
            assert re.search(rf"^{re.escape(key)} = ", example, re.M), f"[{section}] {key} undocumented"


def test_ci_runs_the_readme_test_command() -> None:
    command = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest -q"
    assert command in README
    assert command in (ROOT / ".ci" / "run").read_text()


def test_every_test_data_file_has_its_provenance() -> None:
    """tests/data/PROVENANCE.md lists every recorded file by its real path, and every row names a file."""
    data = ROOT / "tests" / "data"
    rows = re.findall(r"^\| `([^`]+)` \|", (data / "PROVENANCE.md").read_text(), re.M)
    files = {p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()} - {"PROVENANCE.md"}
    for pattern in rows:
        assert any(Path(f).match(pattern) for f in files), f"PROVENANCE.md lists {pattern}, which is not in tests/data"
    for name in sorted(files):
        assert any(Path(name).match(pattern) for pattern in rows), f"tests/data/{name} has no row in PROVENANCE.md"


def test_readme_json_examples_parse() -> None:
    """The README's JSON examples are real JSON, so a reader can paste them into a tool."""
    import json

    blocks = re.findall(r"```json\n(.*?)```", README, re.S)
    assert len(blocks) >= 2
    for block in blocks:
        json.loads(block)


def _generated_blocks(text: str, markers: tuple[str, str]) -> list[str]:
    start, end = markers
    return [part.split(end)[0].strip() for part in text.split(start)[1:]]


def test_every_list_of_who_may_use_a_command_is_generated_from_the_registry() -> None:
    """The README and each platform's guide say who may use which sub-command from one generated list:
    a sub-command added to the registry, or made managers-only, shows in all three at once."""
    from bot.commands import ADMIN_MARKERS, REGISTRY, admin_reference

    reference = admin_reference()
    for doc in (ROOT / "README.md", ROOT / "docs" / "slack.md", ROOT / "docs" / "discord.md"):
        blocks = _generated_blocks(doc.read_text(), ADMIN_MARKERS)
        assert blocks, f"{doc.name} has no generated list of who may use which command"
        assert all(block == reference for block in blocks), f"{doc.name}: regenerate with bot.commands.admin_reference"
    # The list names every sub-command, each where execute() puts it.
    managers, everyone = reference.splitlines()
    for command in REGISTRY.values():
        assert f"`/paper {command.name}`" in managers + everyone
        assert (f"`/paper {command.name}`" in managers) == command.needs_manager()
