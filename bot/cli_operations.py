"""`paperbot doctor` and `paperbot discord …`: checks and one-off platform operations."""

from __future__ import annotations

import argparse
import asyncio

from bot.config import Config
from bot.operations import run_operation


def run(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(run_operation(args, config))
