"""Carrying out a parsed `paperbot` command: logging, the config, and every failure as one line on stderr
with its exit code (0 ok, 1 not found / a source is down, 2 usage or config mistakes).

Imported by bot.cli once the arguments are parsed; the command's own module comes from bot.cli.COMMANDS.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import secrets
import sqlite3
import sys
from collections.abc import Callable

from bot.config import Config, load_config
from bot.errors import PaperbotError

log = logging.getLogger("bot.cli")

# Writing the output failed for a reason of the output's own (a full disk, a closed descriptor).
_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EBADF, errno.EFBIG})

Command = Callable[[argparse.Namespace, Config], int]


def execute(args: argparse.Namespace, module: str) -> int:
    """Run ``module.run(args, config)``; what it raises becomes one line and an exit code.

    The module is imported after the config is read: a config mistake is told without waiting for
    the engine to import."""
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else (logging.INFO if args.command == "run" else logging.ERROR),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    config: Config | None = None
    try:
        config = load_config(args.config)
        if args.command != "run":  # a one-shot command: sqlite-utils' optional numpy is a quarter of its wait
            from bot.sqlite_utils_without_numpy import import_sqlite_utils_without_numpy

            import_sqlite_utils_without_numpy()
        command: Command = importlib.import_module(module).run
        return command(args, config)
    except PaperbotError as err:
        print(f"paperbot: {err}", file=sys.stderr)
        return err.exit_code
    except sqlite3.Error as err:
        # The database failed after it was opened and checked (the disk filled up, the file was
        # changed underneath): still a line about the file, not an "unexpected error".
        from bot.store import database_error  # only on this path: the store imports sqlite-utils

        problem = database_error(config.database_path if config else "?", err)
        print(f"paperbot: {problem}", file=sys.stderr)
        return problem.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise  # stdout was closed by its reader: main() ends quietly
    except OSError as err:
        if err.errno in _OUTPUT_ERRNOS:
            raise  # the output itself failed: main() says so in one line
        return _unexpected()
    except Exception:
        return _unexpected()


def _unexpected() -> int:
    ref = secrets.token_hex(4)
    log.debug("unexpected error [ref %s]", ref, exc_info=True)
    print(f"paperbot: unexpected error (reference {ref}); run again with --verbose for details", file=sys.stderr)
    return 1
