"""Time zone names: whatever text a user types, in chat or in the config file, gets the one-line
"not a time zone" answer or is accepted; nothing reaches the zone database that could make it raise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands import Invocation, dispatch
from bot.config import is_time_zone, load_config
from bot.errors import ConfigError
from bot.models import ChannelRef
from tests.support import make_engine

ROOT = Path(__file__).parent.parent
INV = Invocation(channel=ChannelRef("test", "w", "c"), user="u1")

# Every kind of name that once raised or could reach outside the zone database.
NOT_ZONES = [
    "Europe",  # a folder of the zone database: IsADirectoryError
    "America/Argentina",  # a nested folder
    "x" * 5000,  # longer than a file name may be: OSError
    "Europe/" + "x" * 300,
    "..",
    "../../etc/passwd",
    "UTC/../etc/passwd",
    "Europe/../UTC",
    "/etc/localtime",
    "/usr/share/zoneinfo/UTC",
    "Europe/Berlin\x00",
    "Europe\x00/Berlin",
    "Europe/Berlín",
    "Ευρώπη/Αθήνα",
    "Europe//Berlin",
    "Europe/Berlin/",
    " UTC",
    "zone.tab",
    "tzdata.zi",
    "leapseconds",
    "__init__",
    "Europe\\Berlin",
    "\ud800",
    "",
]


@pytest.mark.parametrize("name", NOT_ZONES, ids=lambda n: repr(n[:20]))
def test_anything_that_is_not_a_zone_is_answered_false(name: str) -> None:
    assert is_time_zone(name) is False


def test_every_zone_of_the_database_is_accepted() -> None:
    zones = available_timezones()
    assert {"UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+1"} <= zones
    # The zone folder also holds files that name no place (the host's "localtime", "Factory",
    # "posixrules"); every other name in it is a zone.
    places = zones - {"localtime", "Factory", "posixrules"}
    assert all(is_time_zone(zone) for zone in places)


def _near_misses(zone: str) -> list[str]:
    """Names that look like ``zone``: its folders, longer names, relative and absolute paths."""
    parts = zone.split("/")
    return [
        *("/".join(parts[:n]) for n in range(1, len(parts))),
        zone + "/",
        zone + "/" + zone,
        "../" + zone,
        "/" + zone,
        zone + "/../" + zone,
        zone * 60,
        zone.lower(),
        zone + "\x00",
    ]


ZONE_LIKE = st.sampled_from(sorted(available_timezones())).flatmap(lambda zone: st.sampled_from(_near_misses(zone)))


@settings(max_examples=400, deadline=None)
@given(st.text() | st.from_regex(r"[A-Za-z/._+-]{0,60}", fullmatch=True) | ZONE_LIKE)
def test_is_time_zone_never_raises_and_means_it(name: str) -> None:
    if is_time_zone(name):
        ZoneInfo(name)  # what it accepts, the scheduler can use


@pytest.mark.parametrize(
    "zone", ["Europe", "Europe/" + "x" * 260, "UTC/../etc/passwd", "Europe/Berlin\x00x"], ids=range(4)
)
async def test_chat_answers_one_line(zone: str) -> None:
    reply = await dispatch(make_engine(), INV, f"/paper subscribe cs.LG 09:00 {zone}")
    assert reply.is_error
    assert "is not a time zone" in reply.text and "\n" not in reply.text and "went wrong" not in reply.text
    assert len(reply.text) < 300


@pytest.mark.parametrize("zone", ["Europe", "x" * 5000, "UTC/../etc/passwd", "Europe/Berlín"], ids=range(4))
def test_config_answers_one_line(tmp_path: Path, zone: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[schedule]\ntimezone = "{zone}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(str(path), env={})
    message = str(info.value)
    assert message.startswith("config: [schedule] timezone = ") and "use an IANA time zone" in message
    assert "\n" not in message and len(message) < 250
    assert info.value.exit_code == 2


def test_cli_exits_2_with_one_line_for_a_folder_zone(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[schedule]\ntimezone = "Europe"\n')
    env = {k: v for k, v in os.environ.items() if k != "PAPERBOT_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "status", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "paperbot: config: [schedule] timezone = 'Europe' is not allowed: use an IANA time zone such as "
        '"Europe/Berlin" or "UTC"'
    ]
