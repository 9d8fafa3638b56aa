"""The full-text index of stored papers: kept in step with every write of the store, built for databases made
before it existed, ranked sensibly on a real feed, and deaf to FTS5 syntax in what people type."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import outbox, search_index
from bot import store as store_module
from bot.errors import ConfigError, UsageError
from bot.models import Paper
from bot.search_index import MAX_QUERY_CHARS, PaperIndex, _ranges, migrations, parse_query
from bot.sources.arxiv import parse_rss
from bot.store import Store
from tests.support import STAT_FEED

FEED = parse_rss(STAT_FEED, ["stat"])
PAPERS = {item.paper.id: item.paper for item in FEED.items}


def stored(path: str | Path = ":memory:") -> Store:
    store = Store(path)
    store.migrate()
    store.save_feed(FEED)
    return store


@pytest.fixture(scope="module")
def index() -> PaperIndex:
    return PaperIndex(stored())


def ids(found: list[tuple[Paper, float]]) -> list[str]:
    return [paper.id for paper, _ in found]


def paper(paper_id: str, title: str, abstract: str = "Text.", authors: tuple[str, ...] = ("A. Author",)) -> Paper:
    return Paper(paper_id, 1, title, authors, ("cs.LG",), "cs.LG", abstract)


# --- kept in step ----------------------------------------------------------------------------------


def test_every_write_of_the_store_reaches_the_index() -> None:
    store = stored()
    index = PaperIndex(store)
    assert "2403.15527" in ids(index.search("conformal online aggregation"))
    # A new paper, saved by itself.
    store.save_papers([paper("2501.00001", "Wombat kinematics", authors=("Ada Lovelace",))])
    assert ids(index.search("wombat")) == ["2501.00001"]
    assert ids(index.search("lovelace")) == ["2501.00001"]
    # A new version with another title: the old words are gone, the new ones found.
    store.save_papers([replace(paper("2501.00001", "Quokka dynamics"), version=2)])
    assert index.search("wombat") == []
    assert ids(index.search("quokka")) == ["2501.00001"]
    # Saved again unchanged (every feed lists papers again): still indexed once.
    store.save_papers([replace(paper("2501.00001", "Quokka dynamics"), version=2)])
    assert ids(index.search("quokka", limit=10)) == ["2501.00001"]
    # Deleted by anyone, with plain SQL: gone from the index too.
    store.db.conn.execute("DELETE FROM papers WHERE id = '2501.00001'")
    assert index.search("quokka") == []


def test_the_owner_of_a_paper_decides_what_is_indexed() -> None:
    # Hugging Face lists an arXiv paper with fewer fields; arXiv's own record replaces its text, and
    # Hugging Face saving it again afterwards changes nothing the index holds.
    store = Store(":memory:")
    store.migrate()
    index = PaperIndex(store)
    hf = replace(paper("2501.00002", "Draft title from the daily list"), source="huggingface", upvotes=3)
    store.save_papers([hf])
    assert ids(index.search("draft")) == ["2501.00002"]
    store.save_papers([paper("2501.00002", "Final arXiv title", abstract="Marsupial locomotion.")])
    store.save_papers([hf])
    assert index.search("draft") == []
    assert ids(index.search("marsupial locomotion")) == ["2501.00002"]


def test_every_source_is_searched() -> None:
    store = Store(":memory:")
    store.migrate()
    preprint = Paper(
        "10.1101/2024.12.31.630767",
        1,
        "Zebrafish fin regeneration",
        ("B. Biologist",),
        ("cell_biology",),
        "cell_biology",
        "Fins grow back.",
        source="biorxiv",
        doi="10.1101/2024.12.31.630767",
    )
    store.save_papers([preprint, replace(paper("2501.00003", "Zebrafish vision models"), source="huggingface")])
    assert set(ids(PaperIndex(store).search("zebrafish"))) == {"10.1101/2024.12.31.630767", "2501.00003"}


def test_accents_are_folded_both_ways() -> None:
    store = Store(":memory:")
    store.migrate()
    store.save_papers([paper("2501.00004", "Kernel methods", authors=("Bernhard Schölkopf",))])
    index = PaperIndex(store)
    assert ids(index.search("Scholkopf")) == ids(index.search("schölkopf")) == ["2501.00004"]


# --- the migration ---------------------------------------------------------------------------------


def made_before_search(path: Path) -> None:
    """A database as the release before search makes it: the store's and the outbox's migrations only
    (no index, no triggers), holding a day of papers."""
    old = Store(path)
    store_module.migrations.apply(old.db)
    outbox.migrate(old)
    old.save_feed(FEED)
    assert "papers_fts" not in old.db.table_names()
    old.close()


def test_the_migration_indexes_a_database_made_before_search(tmp_path: Path) -> None:
    made_before_search(tmp_path / "p.db")
    store = Store(tmp_path / "p.db")
    store.migrate()
    assert [m.name for m in migrations.applied(store.db)] == [
        "m001_papers_fts",
        "m002_upstream_searches",
        "m003_new_papers_indexed_by_the_batch",
    ]
    index = PaperIndex(store)
    assert ids(index.search("conformal online aggregation"))[0] == "2403.15527"
    count = store.db.conn.execute("SELECT count(*) FROM papers_fts WHERE papers_fts MATCH 'conformal'").fetchone()
    # Run again (a second start, or by hand): nothing doubles.
    migrations.apply(store.db)
    for migration in migrations._migrations:
        migration.fn(store.db)
    again = store.db.conn.execute("SELECT count(*) FROM papers_fts WHERE papers_fts MATCH 'conformal'").fetchone()
    assert again == count
    store.db.conn.execute("INSERT INTO papers_fts(papers_fts, rank) VALUES ('integrity-check', 1)")
    store.close()


def test_a_database_with_a_newer_search_index_is_refused(tmp_path: Path) -> None:
    store = stored(tmp_path / "p.db")
    store.db["_sqlite_migrations"].insert(
        {"migration_set": "paperbot.search", "name": "m999_from_the_future", "applied_at": "2030-01-01"}
    )
    store.close()
    with pytest.raises(ConfigError, match="newer paperbot"):
        Store(tmp_path / "p.db").migrate()


# --- ranking and filters ---------------------------------------------------------------------------


def test_conformal_prediction_puts_the_conformal_papers_first(index: PaperIndex) -> None:
    conformal_titles = {pid for pid, p in PAPERS.items() if "conformal" in p.title.lower()}
    assert len(conformal_titles) >= 3  # hand-checked: the recorded feed has four
    found = index.search("conformal prediction", limit=20)
    assert set(ids(found)[: len(conformal_titles)]) == conformal_titles
    # The papers with the phrase itself come before those that only have both words.
    phrase = [pid for pid, p in PAPERS.items() if "conformal prediction" in f"{p.title} {p.abstract}".lower()]
    assert ids(found)[0] in phrase
    scores = [score for _, score in found]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
    # Every result has both words somewhere: the words are required.
    for p, _ in found:
        text = f"{p.title} {p.abstract}".lower()
        assert "conformal" in text and "predict" in text


def test_pages_do_not_overlap(index: PaperIndex) -> None:
    everything = ids(index.search("model", limit=30))
    assert len(everything) > 10
    assert ids(index.search("model", limit=5)) + ids(index.search("model", limit=5, offset=5)) == everything[:10]


def test_feed_and_since_filters(index: PaperIndex) -> None:
    in_me = index.search("conformal", feed="stat.ME", limit=20)
    assert in_me and all(any(c.startswith("stat.ME") for c in p.categories) for p, _ in in_me)
    assert set(ids(index.search("conformal", feed="stat", limit=20))) >= set(ids(in_me))
    assert index.search("conformal", feed="cs.CV", limit=20) == [] or all(
        "cs.CV" in p.categories for p, _ in index.search("conformal", feed="cs.CV", limit=20)
    )
    # Ids carry their month: 2306.14693 (June 2023) is older than 2024, the 2403.* papers are not.
    recent = ids(index.search("conformal", since=date(2024, 1, 1), limit=20))
    assert "2306.14693" not in recent and "2403.15527" in recent
    assert "2403.15527" in ids(index.search("conformal", since=date(2024, 3, 26), limit=20))  # same month
    assert index.search("conformal", since=date(2024, 4, 1), limit=20) == []


def test_scores_of_given_papers(index: PaperIndex) -> None:
    wanted = ["2403.15527", "2403.03868", "2306.14693", "no-such-paper", *list(PAPERS)[:40]]
    scores = index.scores("conformal prediction", wanted)
    assert scores["2403.03868"] > 0 and scores["2403.15527"] > 0
    assert "no-such-paper" not in scores
    assert all(pid in wanted for pid in scores)
    everything = dict((p.id, s) for p, s in index.search("conformal prediction", limit=100))
    for pid, score in scores.items():
        assert score == pytest.approx(everything[pid])  # the same number search ranks by
    assert index.scores("conformal prediction", []) == {}


def test_rowid_ranges_cover_every_rowid() -> None:
    rowids = [1, 2, 3, 900, 901, 5000, *range(10_000, 10_050), 99_999]
    ranges = _ranges(rowids, gap=256, most=3)
    assert len(ranges) == 3
    assert all(any(low <= r <= high for low, high in ranges) for r in rowids)


# --- what people type ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fts"),
    [
        ("conformal prediction", '("conformal prediction") OR ("conformal" AND "prediction")'),
        ('"score matching" diffusion', '"diffusion" AND "score matching"'),
        ("self-supervised", '"self supervised"'),
        ("the theory of mind", '("theory mind") OR ("theory" AND "mind")'),
        ('"theory of mind"', '"theory of mind"'),
        ("NEAR(a b) AND c*", '("b c" AND "near a") OR ("b" AND "c" AND "near a")'),
        ('conformal "unbalanced', '("conformal unbalanced") OR ("conformal" AND "unbalanced")'),
        ("ｃｏｎｆｏｒｍａｌ", '"conformal"'),
    ],
)
def test_queries_become_quoted_terms(text: str, fts: str) -> None:
    assert parse_query(text).fts() == fts


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Give some words"),
        ("   ", "Give some words"),
        ("the of and", "common words"),
        ("😀 🎉", "letters or digits"),
        ('"*" - : ^ ( )', "letters or digits"),
        ("x" * 10_000, f"at most {MAX_QUERY_CHARS}"),
        (" ".join(f"w{i}" for i in range(30)), "too many words"),
    ],
)
def test_unusable_queries_say_what_to_type(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_query(text)


@pytest.mark.parametrize(
    "text",
    [
        '"',
        '""',
        '"""',
        "NEAR",
        "NEAR(conformal prediction, 2)",
        "conformal*",
        "-conformal",
        "title:conformal",
        "^conformal",
        "(conformal OR prediction",
        "conformal AND",
        "OR",
        "NOT conformal",
        "{title abstract}: x",
        "שלום עולם",
        "مرحبا بالعالم",
        "conformal 😀",
        "\u202econformal\u202c",
        "a\x00b",
        "x" * MAX_QUERY_CHARS,
        "🏳️‍🌈",
        "e\u0301",
        "日本語の論文",
    ],
)
def test_fts5_syntax_is_plain_text(index: PaperIndex, text: str) -> None:
    try:
        found = index.search(text)
    except UsageError:
        return
    assert isinstance(found, list)
    index.scores(text, list(PAPERS)[:10])


_HOSTILE = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("\"*-:^()+{}[],.'\\/ \t\nNEARORANDNOT")),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_HOSTILE)
def test_no_query_raises_anything_but_a_usage_error(index: PaperIndex, text: str) -> None:
    try:
        index.search(text, limit=3)
        index.scores(text, ["2403.15527", "2403.03868"])
    except UsageError as err:
        assert str(err) and "\n" not in str(err)


def test_a_database_error_is_not_mistaken_for_the_users(index: PaperIndex) -> None:
    # parse_query makes every expression valid: if FTS5 still complains it is our bug, so it is not
    # dressed up as a usage error.
    with pytest.raises(RuntimeError):
        index._rows("SELECT * FROM papers_fts WHERE papers_fts MATCH 'AND'", {})


def test_a_very_common_query_ranks_the_newest_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    # Scoring is bounded: past MAX_SCORED matches, the newest stored ones are ranked (and the time with them).
    store = Store(":memory:")
    store.migrate()
    store.save_papers([paper(f"2501.{n:05d}", f"Wombat study {n}") for n in range(1, 31)])
    index = PaperIndex(store)
    assert len(index.search("wombat", limit=100)) == 30
    monkeypatch.setattr(search_index, "MAX_SCORED", 10)
    found = ids(index.search("wombat", limit=100))
    assert sorted(found) == [f"2501.{n:05d}" for n in range(21, 31)]
    assert ids(index.search("wombat", limit=5, feed="cs.LG")) == found[:5]
