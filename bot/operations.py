"""`paperbot doctor` and `paperbot discord invite|sync`: operations that talk to the services directly.

The platform SDKs are imported here only when the command needs them. The doctor only looks: it never
creates the database or any other file.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from bot.config import Config
from bot.embeddings import check_embeddings
from bot.errors import ConfigError, PaperbotError

if TYPE_CHECKING:
    from bot.sources.arxiv import ArxivClient
    from bot.sources.polite import PoliteHttp

log = logging.getLogger(__name__)

# What the doctor asks arXiv for: a category announced every weekday and a paper that will always exist.
PROBE_CATEGORY = "math.CO"
PROBE_PAPER = "1605.08386"
# What the doctor asks the other sources for: a small first page of Hugging Face's latest settled day
# (enough to see the list is there and readable, a fraction of a full page), and a bioRxiv preprint
# that will always exist, asked of the bioRxiv server only.
HF_PROBE_LIMIT = 5
PROBE_DOI = "10.1101/2024.12.31.630767"
# A person is waiting for the answer; arXiv's own timeout in config is for the scheduler's patience.
PROBE_TIMEOUT_S = 10.0


async def run_operation(args: argparse.Namespace, config: Config) -> int:
    if args.command == "doctor":
        lines, ok = await doctor(config)
        print("\n".join(lines))
        return 0 if ok else 1
    from adapters.discord import invite_url_for, sync_commands

    if args.discord_command == "invite":
        print(await invite_url_for(config))
    else:
        print(await sync_commands(config, args.guild))
    return 0


# The whole diagnosis waits at most this long for any one check (each also has its own, shorter timeout):
# someone is at the terminal, and a silent service deserves one line, not a minute of nothing.
DOCTOR_DEADLINE_S = 12.0

Lines = list[tuple[str, bool]]


async def doctor(
    config: Config, *, deadline_s: float = DOCTOR_DEADLINE_S, now: datetime | None = None
) -> tuple[list[str], bool]:
    """Human lines on what is configured and whether it works; False when something is wrong.

    The checks talk to different services, so they run at once: silence everywhere costs one timeout,
    not the sum of them. Lines keep their order. ``now`` (aware) picks Hugging Face's settled day.
    """
    database, ok = check_database_path(config.database_path)
    checks: list[tuple[str, str, Callable[[], Awaitable[Lines]]]] = []
    if config.secret("SLACK_BOT_TOKEN") or config.secret("SLACK_APP_TOKEN"):
        checks.append(("Slack", str(config.get("slack", "api_url")), lambda: _platform_lines("slack", config)))
    if config.secret("DISCORD_TOKEN"):
        checks.append(("Discord", str(config.get("discord", "api_url")), lambda: _platform_lines("discord", config)))
    rss_url = str(config.get("sources.arxiv", "rss_url"))
    api_url = str(config.get("sources.arxiv", "api_url"))
    checks.append(("arXiv feeds", rss_url, lambda: _one(check_arxiv_feed(config))))
    checks.append(("arXiv API", api_url, lambda: _one(check_arxiv_api(config))))
    hf_url = str(config.get("sources.huggingface", "api_url"))
    checks.append(("Hugging Face", hf_url, lambda: _one(check_huggingface(config, now))))
    preprint_url = str(config.get("sources.biorxiv", "api_url"))
    checks.append(("bioRxiv/medRxiv", preprint_url, lambda: _one(check_preprints(config))))
    checks.append(("LLM", str(config.get("llm", "base_url")) or "its API", lambda: _one(_check_llm(config))))
    embeddings_url = str(config.get("radar", "embeddings_base_url")) or "its endpoint"
    checks.append(("Embeddings", embeddings_url, lambda: _one(check_embeddings(config))))
    found = await asyncio.gather(*(_bounded(name, url, check, deadline_s) for name, url, check in checks))
    lines = [f"Config: {config.source}", database]
    if not any(name in ("Slack", "Discord") for name, _, _ in checks):
        lines.append("Chat: no SLACK_BOT_TOKEN or DISCORD_TOKEN set: `paperbot run` uses this terminal as its channel")
    for group in found:
        for line, fine in group:
            lines.append(line)
            ok = ok and fine
    return lines, ok


async def _bounded(name: str, url: str, check: Callable[[], Awaitable[Lines]], deadline_s: float) -> Lines:
    try:
        async with asyncio.timeout(deadline_s):
            return await check()
    except TimeoutError:
        return [(f"{name}: no answer from {shown_url(url)} within {deadline_s:g} s", False)]


async def _one(line: Awaitable[tuple[str, bool]]) -> Lines:
    return [await line]


async def _platform_lines(platform: str, config: Config) -> Lines:
    # The platform SDKs load only when their token is set.
    if platform == "slack":
        from adapters.slack import check_slack

        found = await check_slack(config)
    else:
        from adapters.discord import check_discord

        found = await check_discord(config)
    return [(line, not _is_problem(line)) for line in found]


async def _check_llm(config: Config) -> tuple[str, bool]:
    from bot.explain.doctor import check_llm  # the LLM side loads only when asked for

    return await check_llm(config)


def check_database_path(path: str) -> tuple[str, bool]:
    """Where the database is and whether it can be one, without opening it (opening would create it)."""
    from bot.store import database_file

    try:
        file = database_file(path)
    except ConfigError as err:
        return f"Database: {err}", False
    if not file.exists():
        return f"Database: {path} (not created yet: the first command that needs it creates it)", True
    return f"Database: {path} ({file.stat().st_size / 1e6:.1f} MB)", True


async def check_arxiv(config: Config) -> list[tuple[str, bool]]:
    """One request to arXiv's feed service and one to its export API, each a line and whether it worked."""
    return [await check_arxiv_feed(config), await check_arxiv_api(config)]


async def check_arxiv_feed(config: Config) -> tuple[str, bool]:
    """One request to arXiv's feed service. No retry and no second request: a check must not add to
    arXiv's load. Each check has its own client: the client's spacing between requests (meant for
    repeated calls to one service) is not needed here, and the two checks run at once."""
    rss_url = str(config.get("sources.arxiv", "rss_url"))
    async with _probe_client(config) as client:

        async def feed() -> str:
            fetched = await client.fetch_feed([PROBE_CATEGORY])
            return f"{len(fetched.items)} papers in the {PROBE_CATEGORY} feed"

        return await _probe("arXiv feeds", rss_url, feed)


async def check_arxiv_api(config: Config) -> tuple[str, bool]:
    """One request to arXiv's export API, for a paper that will always exist."""
    api_url = str(config.get("sources.arxiv", "api_url"))
    async with _probe_client(config) as client:

        async def paper() -> str:
            await client.fetch_paper(PROBE_PAPER)
            return f"found paper {PROBE_PAPER}"

        return await _probe("arXiv API", api_url, paper)


async def check_huggingface(config: Config, now: datetime | None = None) -> tuple[str, bool]:
    """One request to Hugging Face: the first few papers of the latest settled day's list (the day the
    next digest would post), read as the source reads it. An empty list is an answer too (weekends)."""
    from bot.errors import SourceError
    from bot.sources.huggingface import parse_daily_page, settled_day

    api_url = str(config.get("sources.huggingface", "api_url"))
    day = settled_day(now or datetime.now(UTC), int(config.get("sources.huggingface", "settle_hour_utc")))

    async def first_page() -> str:
        what = f"the daily papers of {day.isoformat()}"
        params = {"date": day.isoformat(), "limit": str(HF_PROBE_LIMIT), "p": "0"}
        async with _one_request("Hugging Face") as web:
            response = await web.get(f"{api_url.rstrip('/')}/daily_papers", params, what)
        if not response.is_success:
            raise SourceError(f"Hugging Face answered HTTP {response.status_code} for {what}")
        page = await asyncio.to_thread(parse_daily_page, response.content, day)
        if not page.papers:
            return f"no papers listed on {day.isoformat()}"
        more = "+" if page.entries >= HF_PROBE_LIMIT else ""  # one page of a few: the day may hold more
        return f"{len(page.papers)}{more} papers on {day.isoformat()}"

    return await _probe("Hugging Face", api_url, first_page)


async def check_preprints(config: Config) -> tuple[str, bool]:
    """One request to api.biorxiv.org (which serves bioRxiv and medRxiv alike): a preprint that will
    always exist, by DOI. Asked of the bioRxiv server only, not through ``PreprintSource.fetch_paper``,
    which would ask medRxiv too when bioRxiv says nothing: a check makes one request."""
    from bot.errors import SourceError
    from bot.sources.preprint_details import parse_details, short
    from bot.text import strip_unsafe_chars

    api_url = str(config.get("sources.biorxiv", "api_url"))

    async def preprint() -> str:
        what = f"bioRxiv preprint {PROBE_DOI}"
        async with _one_request("bioRxiv/medRxiv API") as web:
            response = await web.get(f"{api_url.rstrip('/')}/details/biorxiv/{PROBE_DOI}", None, what)
        if not response.is_success:
            raise SourceError(f"bioRxiv answered HTTP {response.status_code} for {what}")
        page = await asyncio.to_thread(parse_details, response.content, "biorxiv", what)
        if page.status != "ok":
            said = short(strip_unsafe_chars(page.status or "no status"), 60)  # the API's words: untrusted
            raise SourceError(f'bioRxiv answered "{said}" for {what}, a preprint that exists')
        if not any(paper.id == PROBE_DOI for paper in page.papers):
            raise SourceError(f"bioRxiv's answer for {what} does not list that preprint")
        return f"found {PROBE_DOI}"

    return await _probe("bioRxiv/medRxiv", api_url, preprint)


@asynccontextmanager
async def _one_request(service: str) -> AsyncIterator[PoliteHttp]:
    """A ``PoliteHttp`` for one request: no spacing, no retries, the doctor's short timeout, closed after."""
    from bot.sources.polite import PoliteHttp

    web = PoliteHttp(service, min_interval_s=0, timeout_s=PROBE_TIMEOUT_S, retries=0)
    try:
        yield web
    finally:
        await web.aclose()


def _probe_client(config: Config) -> ArxivClient:
    from bot.sources.arxiv import ArxivClient

    timeout_s = min(float(config.get("sources.arxiv", "timeout_s")), PROBE_TIMEOUT_S)
    return ArxivClient(
        str(config.get("sources.arxiv", "rss_url")),
        str(config.get("sources.arxiv", "api_url")),
        min_interval_s=0,
        timeout_s=timeout_s,
        retries=0,
        empty_retries=0,
    )


async def _probe(name: str, url: str, check: Callable[[], Awaitable[str]]) -> tuple[str, bool]:
    started = time.monotonic()
    try:
        found = await check()
    except Exception as err:  # a diagnosis reports every failure as a line, whatever its kind
        log.debug("%s check failed", name, exc_info=True)
        reason = str(err) if isinstance(err, PaperbotError) else f"{err.__class__.__name__}"
        return f"{name}: failed at {shown_url(url)}: {reason}", False
    return f"{name}: OK at {shown_url(url)} ({found}, {time.monotonic() - started:.1f} s)", True


def shown_url(url: str) -> str:
    """``url`` as the doctor prints it: without a user name, password, query or fragment, where a
    proxy's credentials or an access token may sit."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "(the configured URL)"
    host = f"[{host}]" if ":" in host else host
    return urlunsplit((parts.scheme, f"{host}{port}", parts.path, "", ""))


def _is_problem(line: str) -> bool:
    lowered = line.lower()
    return any(word in lowered for word in ("not set", "rejected", "missing", "invalid", "error", "failed", "cannot"))


__all__ = [
    "check_arxiv",
    "check_arxiv_api",
    "check_arxiv_feed",
    "check_database_path",
    "check_huggingface",
    "check_preprints",
    "doctor",
    "run_operation",
    "shown_url",
]
