"""Configuration: a TOML file validated against a declared schema, secrets from the environment only.

Where the file comes from: ``--config PATH``, else ``$PAPERBOT_CONFIG``, else ``./config.toml`` if it
exists, else built-in defaults. Every problem is a ConfigError whose one line names the key and what is
allowed, so a bad deployment fails at start instead of at 3 a.m.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.errors import ConfigError, PaperbotError
from bot.explain.pricing import Price, price_for
from bot.models import ChannelRef

SECRET_NAMES = (
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "DISCORD_TOKEN",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "EMBEDDINGS_API_KEY",
)
LLM_PROVIDERS = ("anthropic", "openai", "none")
# What an empty `[llm] model` means.
DEFAULT_MODELS = {"anthropic": "claude-haiku-5-5", "openai": "gpt-4o-mini"}
# ASCII digits only ([0-9], not \d, which also takes "０９" or "٠٩"), matched in full (a "$" would also
# match before a trailing newline). The config wants two hour digits; chat also takes "9:30".
_TIME = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")
_LENIENT_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
# The shape of an IANA zone name ("UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+1"):
# ASCII words joined by "/". Checked before the name reaches the zone database, which is a folder of
# files: a folder name, "..", an absolute path, a NUL or a very long name must never be looked up there.
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+-]{1,40}(?:/[A-Za-z0-9_+-]{1,40}){0,3}")
# Files of the zone folder that are not a place's time: "localtime" is the host's own clock (a different
# zone on every server), "posixrules" a default rule, "Factory" a zone meaning "not set", and right/ and
# posix/ are copies of the database counting (or not) leap seconds.
_NOT_PLACES = frozenset({"localtime", "posixrules", "Factory"})
_NOT_PLACE_FOLDERS = ("right/", "posix/")
# Larger than any config a person writes; a bigger "file" is a mistake (a log, /dev/zero).
MAX_CONFIG_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class Key:
    """One config key: its type, default and an extra check returning an error text or None."""

    type: type | tuple[type, ...]
    default: Any
    check: Callable[[Any], str | None] | None = None
    allowed: str = ""


def _time_check(value: str) -> str | None:
    return None if _TIME.fullmatch(value) else 'use a 24-hour time "HH:MM", e.g. "08:30"'


def parse_time(text: str) -> str | None:
    """``text`` as a 24-hour time "HH:MM" ("9:30" -> "09:30"), or None when it is not exactly one."""
    found = _LENIENT_TIME.fullmatch(text)
    return None if found is None else f"{int(found.group(1)):02d}:{found.group(2)}"


def _zone_check(value: str) -> str | None:
    if is_time_zone(value):
        return None
    meant = suggest_time_zone(value)
    hint = f'did you mean "{meant}"? ' if meant else ""
    return hint + 'use an IANA time zone such as "Europe/Berlin" or "UTC"'


def _database_path_check(value: str) -> str | None:
    # The database holds subscriptions and what each channel was sent: a path that keeps nothing
    # across restarts would repeat every digest.
    if not value.strip() or value == ":memory:" or value.lower().startswith("file:"):
        return 'use the path of a file, e.g. "paperbot.db" (an in-memory database or SQLite URI keeps nothing)'
    if "\x00" in value:
        return "use a file path without a NUL character"
    return None


def _url_problem(value: str, schemes: tuple[str, ...]) -> str | None:
    """None when ``value`` is a URL the clients can use: one of ``schemes``, a host, a valid port, and
    no space or control character anywhere (a pasted newline or tab included)."""
    wanted = f"use an {schemes[0]}(s):// URL with a host, e.g. {schemes[0]}s://example.org/path"
    if not value.isprintable() or any(c.isspace() for c in value):
        return wanted
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0..65535
    except ValueError:
        return wanted
    if parts.scheme.lower() not in schemes or not parts.hostname:
        return wanted
    return None


def _url_check(value: str) -> str | None:
    return _url_problem(value, ("http", "https"))  # the first is named in the message, as "http(s)"


def _websocket_url_check(value: str) -> str | None:
    return _url_problem(value, ("ws", "wss"))


def _positive(value: float) -> str | None:
    return None if value > 0 and math.isfinite(value) else "use a number greater than 0"


def _non_negative(value: float) -> str | None:
    return None if value >= 0 and math.isfinite(value) else "use a number 0 or greater"


def _between(low: float, high: float, *, low_included: bool = True) -> Callable[[Any], str | None]:
    """A number in a range: a timeout of a day or a million retries is a typo, not a wish, and would hold
    a digest (or a command) for as long."""

    def check(value: float) -> str | None:
        inside = (value >= low if low_included else value > low) and value <= high
        if inside and math.isfinite(value):
            return None
        above = "0 or greater" if low_included and low == 0 else f"greater than {low:g}"
        return f"use a number {above} and at most {high:g}"

    return check


def _model_check(value: str) -> str | None:
    # A model name is one word ("claude-haiku-5-5", "gpt-4o-mini", "org/model:tag").
    if value == "" or (len(value) <= 200 and value.isprintable() and not any(c.isspace() for c in value)):
        return None
    return 'use a model name without spaces, e.g. "claude-haiku-5-5", or "" for the default'


def _port_check(value: int) -> str | None:
    return None if 0 < value < 65536 else "use a port number between 1 and 65535"


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value: str) -> str | None:
        return None if value in choices else "use one of " + ", ".join(f'"{c}"' for c in choices)

    return check


def _strings_check(value: list[Any]) -> str | None:
    return None if all(isinstance(v, str) and v.strip() for v in value) else "use a list of strings"


def _categories_check(value: list[Any]) -> str | None:
    from bot.sources.registry import resolve_feed

    for item in value:
        if not isinstance(item, str):
            return "use a list of feed names, like cs.LG, hf or biorxiv:neuroscience"
        try:
            resolve_feed(item)
        except PaperbotError as err:
            return str(err)
    return None


SCHEMA: dict[str, dict[str, Key]] = {
    "database": {"path": Key(str, "paperbot.db", _database_path_check)},
    "sources.arxiv": {
        "rss_url": Key(str, "https://rss.arxiv.org/rss", _url_check),
        "api_url": Key(str, "https://export.arxiv.org/api/query", _url_check),
        # Full text of a paper, as arXiv's HTML version: {html_url}/{id}v{N}.
        "html_url": Key(str, "https://arxiv.org/html", _url_check),
        "timeout_s": Key((int, float), 30.0, _between(0, 3600, low_included=False)),
        "retries": Key(int, 4, _between(0, 20)),
    },
    "sources.huggingface": {
        "api_url": Key(str, "https://huggingface.co/api", _url_check),
        # Papers with fewer upvotes are left out of every channel's Hugging Face digest (a channel can
        # raise its own floor with /paper subscribe hf min:10).
        "min_upvotes": Key(int, 0, _between(0, 1_000_000)),
        # A day's list grows during that day (UTC): it is posted once settled, at this hour the next day.
        "settle_hour_utc": Key(int, 6, _between(0, 23)),
    },
    "sources.biorxiv": {
        "api_url": Key(str, "https://api.biorxiv.org", _url_check),
        # Where JATS full texts are fetched: empty follows each preprint's own link (biorxiv.org,
        # medrxiv.org); a URL replaces that origin (a caching proxy), keeping the link's path.
        "content_url": Key(str, "", lambda v: _url_check(v) if v else None),
    },
    "schedule": {
        # Shortly after arXiv rebuilds its feeds at midnight US Eastern.
        "time": Key(str, "00:30", _time_check),
        "timezone": Key(str, "America/New_York", _zone_check),
    },
    "digest": {
        "limit": Key(int, 10, _non_negative),
        "include_replacements": Key(bool, False),
    },
    "console": {
        # Categories the terminal channel follows from the first start (subscriptions made with
        # /paper subscribe are added to these and kept in the database).
        "categories": Key(list, [], _categories_check),
    },
    "delivery": {
        # An upper bound on the channels of one platform being delivered at once; 0: none, every channel
        # due starts at once and the platform's pacing (Slack about one message a second per channel,
        # Discord's per-channel and bot-wide limits) is what bounds the fan-out.
        "concurrency": Key(int, 0, _between(0, 100_000)),
        # Discord's global limit for this bot (requests a second over every route; Discord raises it for
        # large bots on request). Requests are paced a little below it, in one budget per process.
        "discord_requests_per_s": Key(int, 50, _between(1, 10_000)),
    },
    "admin": {
        # Where a short report goes when digests failed: "platform:workspace/channel", e.g.
        # "slack:T0123/C0456", "discord:1234/5678", "console:terminal". Empty: no report.
        "channel": Key(str, "", lambda v: None if v == "" or _parse_channel(v) else "use platform:workspace/channel"),
    },
    "llm": {
        "provider": Key(str, "", _one_of("", *LLM_PROVIDERS)),
        # "" picks the provider's default: claude-haiku-5-5 (anthropic) or gpt-4o-mini (openai).
        "model": Key(str, "", _model_check),
        "base_url": Key(str, "", lambda v: None if v == "" else _url_check(v)),
        "timeout_s": Key((int, float), 60.0, _between(0, 3600, low_included=False)),
        "daily_budget_usd": Key((int, float), 2.0, _non_negative),
        # Tokens an explanation's prompt may use (estimated at 4 characters a token): the paper's equations
        # beyond it are left out, never the title or abstract.
        "max_input_tokens": Key(int, 6000, _between(500, 200_000)),
        "concurrency": Key(int, 4, _between(0, 1000, low_included=False)),
        "batch_threshold": Key(int, 100, _positive),
        "prepare_minutes": Key(int, 30, _between(0, 24 * 60, low_included=False)),
        # Prices per million tokens; 0 (both): the built-in price of a known model. A model without one
        # is refused at start unless both are set (a model on a server of your own costs 0 unless set).
        "input_usd_per_mtok": Key((int, float), 0.0, _non_negative),
        "output_usd_per_mtok": Key((int, float), 0.0, _non_negative),
    },
    "images": {
        # Equations Unicode draws badly (fractions, sums with bounds, roots…) attached as PNG images to
        # an explanation, at most this many; 0: none, Unicode only.
        "max_per_explanation": Key(int, 3, _between(0, 10)),
        # Rendered images kept on disk next to the database (folder equation-images), oldest out beyond it.
        "cache_mb": Key(int, 50, _between(1, 10_000)),
    },
    "questions": {
        # Questions asked of the bot in paper threads: per person (across channels) and per channel, in any
        # hour; past either, the asker alone is told when to ask again.
        "per_user_per_hour": Key(int, 10, _between(1, 10_000)),
        "per_channel_per_hour": Key(int, 60, _between(1, 100_000)),
        # The part of [llm] daily_budget_usd thread answers may spend; past it they are offline until the
        # next UTC day, and explanations keep the rest (0: questions never use the LLM).
        "budget_share": Key((int, float), 0.25, _between(0, 1)),
        # A longer question is read up to this many characters (the answer says it was cut).
        "max_question_chars": Key(int, 2000, _between(100, 20_000)),
    },
    "radar": {
        # An OpenAI-compatible embeddings endpoint ({base_url}/embeddings: OpenAI, Ollama, vLLM…) whose
        # vectors let liked papers lift papers alike in meaning, not only in words. Empty: words only.
        "embeddings_base_url": Key(str, "", lambda v: None if v == "" else _url_check(v)),
        "embeddings_model": Key(str, "text-embedding-3-small", _model_check),
        # The longest the papers of one fetched feed may take to embed; what is left waits for the next feed.
        "embeddings_timeout_s": Key((int, float), 60.0, _between(0, 3600, low_included=False)),
    },
    "retention": {  # days kept; which papers each channel was sent is kept forever, compactly
        "outbox_days": Key(int, 90, _between(7, 36_500)),  # sent or failed outbox rows
        "deliveries_days": Key(int, 90, _between(7, 36_500)),  # each delivery's day and time
        "papers_days": Key(int, 180, _between(30, 36_500)),  # papers no feed listed since (sent or not)
        "posted_messages_days": Key(int, 120, _between(1, 36_500)),  # the bot's own messages
        "cache_mb": Key(int, 200, _between(1, 100_000)),  # full-text pages on disk (folder fulltext)
        "prune_at": Key(str, "04:30", _time_check),  # the daily prune, UTC
    },
    "slack": {
        "mode": Key(str, "socket", _one_of("socket", "http")),
        "port": Key(int, 3000, _port_check),
        "api_url": Key(str, "https://slack.com/api/", _url_check),
        # Slack user ids (U…) who may subscribe/unsubscribe/digest besides workspace admins and owners.
        "admins": Key(list, [], _strings_check),
        "anyone_can_subscribe": Key(bool, False),
        # Explanations are posted in the channel for everyone; false: only the asker sees them.
        "explain_in_channel": Key(bool, True),
    },
    "discord": {
        "api_url": Key(str, "https://discord.com/api/v10", _url_check),
        "gateway_url": Key(str, "wss://gateway.discord.gg/", _websocket_url_check),
    },
}


def _parse_channel(text: str) -> tuple[str, str, str] | None:
    match = re.match(r"^(console|slack|discord):(?:([^/\s]+)/)?([^/\s]+)$", text.strip())
    return None if match is None else (match.group(1), match.group(2) or "", match.group(3))


def admin_channel(config: Config) -> ChannelRef | None:
    parsed = _parse_channel(str(config.get("admin", "channel")))
    return None if parsed is None else ChannelRef(*parsed)


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is a time zone we can schedule in. Any text gets an answer, never an exception."""
    if not _ZONE_NAME.fullmatch(name) or name in _NOT_PLACES or name.startswith(_NOT_PLACE_FOLDERS):
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # A folder of the zone database ("Europe", "America/Argentina") raises IsADirectoryError and a
        # file that is not a zone raises ValueError, not "not found".
        return False
    return True


def suggest_time_zone(name: str) -> str | None:
    """The zone ``name`` means when only its letter case is wrong ("utc", "europe/berlin"), else None.

    Zone names are case-sensitive files; a suggestion is better than accepting a spelling that works
    on one file system and not on another."""
    if len(name) > 100:
        return None
    return _zones_by_lower_name().get(name.lower())


@cache
def _zones_by_lower_name() -> dict[str, str]:
    return {zone.lower(): zone for zone in available_timezones() if is_time_zone(zone)}


@dataclass(frozen=True, slots=True)
class Config:
    """Validated settings. ``values[(section, key)]`` holds every key, defaults filled in."""

    values: Mapping[tuple[str, str], Any]
    source: str  # where it came from, for `paperbot doctor` and logs
    env: Mapping[str, str] = field(default_factory=dict)

    def get(self, section: str, key: str) -> Any:
        return self.values[(section, key)]

    @property
    def database_path(self) -> str:
        return str(self.get("database", "path"))

    def secret(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    @property
    def llm_provider(self) -> str:
        """LLM_PROVIDER beats the file; without either, Anthropic when its key is set."""
        chosen = (self.env.get("LLM_PROVIDER") or self.get("llm", "provider") or "").strip().lower()
        if chosen:
            return chosen
        return "anthropic" if self.secret("ANTHROPIC_API_KEY") else "none"

    @property
    def llm_model(self) -> str:
        """The model asked for: ``[llm] model``, else the provider's default ("" for none)."""
        return str(self.get("llm", "model")) or DEFAULT_MODELS.get(self.llm_provider, "")

    @property
    def price_override(self) -> tuple[float, float]:
        """``[llm] input_usd_per_mtok`` / ``output_usd_per_mtok``; (0, 0) when not set."""
        return float(self.get("llm", "input_usd_per_mtok")), float(self.get("llm", "output_usd_per_mtok"))

    def llm_price(self) -> Price:
        """What the configured model's calls are metered at, and why."""
        return price_for(
            self.llm_model, self.price_override, provider=self.llm_provider, base_url=str(self.get("llm", "base_url"))
        )


def _unpriced_model(config: Config) -> str | None:
    """The one line refusing a model no price is known for on a paid API: its calls would be unmetered
    (or metered at a guess), and the daily budget would not mean what it says."""
    provider = config.llm_provider
    if provider not in ("anthropic", "openai") or (provider == "anthropic" and not config.secret("ANTHROPIC_API_KEY")):
        return None  # no LLM calls are made
    if config.llm_price().basis != "dearest known":
        return None
    return (
        f"config: [llm] model = {_shown(config.llm_model)} has no known price: set [llm] input_usd_per_mtok and "
        "output_usd_per_mtok (US dollars per million tokens) so that daily_budget_usd can meter it"
    )


def find_config_path(cli_path: str | None, env: Mapping[str, str], cwd: Path) -> Path | None:
    if cli_path:
        return Path(cli_path)
    if env.get("PAPERBOT_CONFIG"):
        return Path(env["PAPERBOT_CONFIG"])
    default = cwd / "config.toml"
    return default if default.is_file() else None


def load_config(cli_path: str | None = None, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Config:
    env = dict(os.environ if env is None else env)
    path = find_config_path(cli_path, env, cwd or Path.cwd())
    if path is None:
        raw: dict[str, Any] = {}
        source = "built-in defaults"
    else:
        raw = _read_toml(path)
        source = str(path)
    values = validate(raw)
    provider = env.get("LLM_PROVIDER", "").strip().lower()
    if provider and provider not in LLM_PROVIDERS:
        raise ConfigError(f"LLM_PROVIDER={provider!r} is not allowed: use one of {', '.join(LLM_PROVIDERS)}")
    config = Config(values=values, source=source, env=env)
    problem = _unpriced_model(config)
    if problem:
        raise ConfigError(problem)
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    # Looked at before it is opened: opening a FIFO waits for a writer forever, and /dev/zero never ends.
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist (see config.example.toml)") from None
    except (OSError, ValueError) as err:
        raise ConfigError(f"config file {path} cannot be read: {getattr(err, 'strerror', None) or err}") from None
    if stat.S_ISDIR(mode):
        raise ConfigError(f"config file {path} is a folder: give the path of a .toml file")
    if not stat.S_ISREG(mode):
        raise ConfigError(f"config file {path} is not a regular file (a device, pipe or socket): give a .toml file")
    try:
        with path.open("rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"config file {path} cannot be read: {err.strerror or err}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is too large for a config file (over {MAX_CONFIG_BYTES:,} bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text: save it as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {path} is not valid TOML: {err}") from None


def _flatten_sections(raw: Mapping[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Turn nested tables into {"sources.arxiv": {...}}; a scalar at the top level is an unknown key."""
    sections: dict[str, dict[str, Any]] = {}
    for name, value in raw.items():
        dotted = f"{prefix}{name}"
        if not isinstance(value, dict):
            where = f"[{prefix[:-1]}] {name}" if prefix else name
            raise ConfigError(f"config: unknown key {where}; sections are " + ", ".join(f"[{s}]" for s in SCHEMA))
        if dotted in SCHEMA:
            sections[dotted] = value
            continue
        nested = {k: v for k, v in value.items() if isinstance(v, dict)}
        if not nested or any(not isinstance(v, dict) for v in value.values()):
            raise ConfigError(f"config: unknown section [{dotted}]; allowed: " + ", ".join(f"[{s}]" for s in SCHEMA))
        sections.update(_flatten_sections(nested, prefix=f"{dotted}."))
    return sections


def validate(raw: Mapping[str, Any]) -> dict[tuple[str, str], Any]:
    sections = _flatten_sections(raw)
    values: dict[tuple[str, str], Any] = {}
    for section, keys in SCHEMA.items():
        given = sections.get(section, {})
        for name in given:
            if name not in keys:
                raise ConfigError(f"config: unknown key [{section}] {name}; allowed: " + ", ".join(keys))
        for name, spec in keys.items():
            value = given.get(name, spec.default)
            if name in given:
                value = _check_value(section, name, spec, value)
            values[(section, name)] = value
    return values


def _check_value(section: str, name: str, spec: Key, value: Any) -> Any:
    types = spec.type if isinstance(spec.type, tuple) else (spec.type,)
    # bool is an int in Python; a `limit = true` is still a mistake.
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        wanted = " or ".join(_type_name(t) for t in types)
        raise ConfigError(f"config: [{section}] {name} must be {wanted}, got {_type_name(type(value))}")
    if float in types and isinstance(value, int):
        value = float(value)
    if spec.check is not None:
        problem = spec.check(value)
        if problem:
            raise ConfigError(f"config: [{section}] {name} = {_shown(value)} is not allowed: {problem}")
    return value


def _shown(value: Any) -> str:
    """The value as written, cut short: a 5,000-character mistake still gets a readable line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _type_name(t: type) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list"}.get(
        t, t.__name__
    )
