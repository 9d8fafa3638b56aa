"""`paperbot run`: every configured chat platform (the terminal when none) and the schedule."""

from __future__ import annotations

import argparse
import asyncio

from bot.config import Config
from bot.runner import run_bot


def run(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(run_bot(config))
