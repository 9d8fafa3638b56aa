"""arXiv categories: lookup, resolve, typo suggestions and autocomplete."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from bot import taxonomy
from bot.errors import UnknownCategoryError, UsageError
from bot.taxonomy import Category, all_categories, closest, complete, get, resolve

# --- data -----------------------------------------------------------------------------------------


def test_counts() -> None:
    cats = all_categories()
    assert len(cats) == 184
    assert sum(c.active for c in cats) == 155


def test_data_loads_via_importlib_resources() -> None:
    # The file must be package data, reachable the way an installed wheel reaches it.
    resource = resources.files("bot").joinpath("data", "taxonomy.json")
    assert resource.is_file()
    rows = json.loads(resource.read_text(encoding="utf-8"))
    assert [row["id"] for row in rows] == [c.id for c in all_categories()]


def test_all_categories_is_cached() -> None:
    assert all_categories() is all_categories()


def test_ids_are_unique_ignoring_case() -> None:
    ids = [c.id.lower() for c in all_categories()]
    assert len(ids) == len(set(ids))


def test_category_fields() -> None:
    assert get("cs.LG") == Category(id="cs.LG", name="Machine Learning", active=True, archive="cs")
    assert get("cond-mat.mtrl-sci") == Category("cond-mat.mtrl-sci", "Materials Science", True, "cond-mat")


def test_popular_and_replacements_are_real_active_categories() -> None:
    for cat_id in taxonomy.POPULAR:
        found = get(cat_id)
        assert found is not None and found.active and found.id == cat_id
    for old, new in taxonomy._SUBSUMED.items():
        retired, replacement = get(old), get(new)
        assert retired is not None and not retired.active
        assert replacement is not None and replacement.active


# --- get ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cs.LG", "cs.LG"),
        ("cs.lg", "cs.LG"),
        ("CS.LG", "cs.LG"),
        ("HEP-TH", "hep-th"),
        ("alg-geom", "alg-geom"),
    ],
)
def test_get(text: str, expected: str) -> None:
    found = get(text)
    assert found is not None and found.id == expected


def test_get_archives() -> None:
    # Stored subscriptions may be whole archives; get() must name them too.
    assert get("math") == Category("math", "Mathematics", True, "math")
    assert get("CS") == Category("cs", "Computer Science", True, "cs")
    legacy = get("astro-ph")  # a data row (retired legacy category) wins over the archive
    assert legacy is not None and not legacy.active


@pytest.mark.parametrize("text", ["cs.LF", "", " cs.LG", "machine learning", "foo"])
def test_get_misses(text: str) -> None:
    assert get(text) is None


# --- resolve --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cs.LG", "cs.LG"),
        ("cs.lg", "cs.LG"),
        ("  Math.oc ", "math.OC"),
        ("STAT.ML", "stat.ML"),
        ("hep-th", "hep-th"),
        ("quant-ph", "quant-ph"),
        ("cond-mat.MTRL-SCI", "cond-mat.mtrl-sci"),
        ("physics.optics", "physics.optics"),
        # aliases the data lists as active stay as typed: arXiv lists their papers in both
        ("cs.NA", "cs.NA"),
        ("math.IT", "math.IT"),
        ("stat.TH", "stat.TH"),
        ("q-fin.EC", "q-fin.EC"),
        ("math.MP", "math.MP"),
    ],
)
def test_resolve_categories(text: str, expected: str) -> None:
    found = resolve(text)
    assert found.id == expected
    assert found.active


@pytest.mark.parametrize(
    ("text", "expected", "name"),
    [
        ("math", "math", "Mathematics"),
        ("MATH", "math", "Mathematics"),
        ("cs", "cs", "Computer Science"),
        ("stat", "stat", "Statistics"),
        ("physics", "physics", "Physics"),
        ("q-bio", "q-bio", "Quantitative Biology"),
        ("q-fin", "q-fin", "Quantitative Finance"),
        ("econ", "econ", "Economics"),
        ("eess", "eess", "Electrical Engineering and Systems Science"),
        ("nlin", "nlin", "Nonlinear Sciences"),
        # these two are also (inactive) legacy categories in the data; as archives they are fine
        ("astro-ph", "astro-ph", "Astrophysics"),
        ("cond-mat", "cond-mat", "Condensed Matter"),
    ],
)
def test_resolve_archives(text: str, expected: str, name: str) -> None:
    assert resolve(text) == Category(id=expected, name=name, active=True, archive=expected)


@pytest.mark.parametrize(
    ("text", "replacement"),
    [
        ("alg-geom", "math.AG"),
        ("cmp-lg", "cs.CL"),
        ("supr-con", "cond-mat.supr-con"),
        ("Chao-Dyn", "nlin.CD"),
    ],
)
def test_resolve_retired_archive_names_the_replacement(text: str, replacement: str) -> None:
    with pytest.raises(UnknownCategoryError) as caught:
        resolve(text)
    assert caught.value.suggestions == (replacement,)
    assert f"Use {replacement}." in str(caught.value)
    assert "no longer used" in str(caught.value)


def test_resolve_inactive_without_replacement() -> None:
    with pytest.raises(UnknownCategoryError) as caught:
        resolve("test.soft")
    assert "no longer used" in str(caught.value)
    assert taxonomy.TAXONOMY_URL in str(caught.value)


def test_resolve_unknown_message_and_suggestions() -> None:
    with pytest.raises(UnknownCategoryError) as caught:
        resolve("cs.LF")
    error = caught.value
    assert error.suggestions[:2] == ("cs.LG", "cs.LO")
    assert str(error).startswith(
        '"cs.LF" is not an arXiv category. Did you mean cs.LG (Machine Learning), '
        "cs.LO (Logic in Computer Science)"
    )
    assert str(error).endswith("? See https://arxiv.org/category_taxonomy")
    assert isinstance(error, UsageError)


def test_resolve_unknown_without_suggestions() -> None:
    with pytest.raises(UnknownCategoryError) as caught:
        resolve("xyzzy")
    assert caught.value.suggestions == ()
    assert str(caught.value) == '"xyzzy" is not an arXiv category. See https://arxiv.org/category_taxonomy'


def test_resolve_by_name_is_a_suggestion_not_a_match() -> None:
    # Names are ambiguous (two "Machine Learning"s), so they only ever produce suggestions.
    with pytest.raises(UnknownCategoryError) as caught:
        resolve("machine learning")
    assert caught.value.suggestions == ("cs.LG", "stat.ML")


def test_resolve_empty() -> None:
    with pytest.raises(UnknownCategoryError) as caught:
        resolve("   ")
    assert "cs.LG" in str(caught.value)


def test_resolve_over_long_input_skips_difflib(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> float:
        raise AssertionError("difflib ran on over-long input")

    monkeypatch.setattr(taxonomy, "_ratio", boom)
    with pytest.raises(UnknownCategoryError) as caught:
        resolve("cs.LG" * 13)
    assert caught.value.suggestions == ()
    assert "…" in str(caught.value)
    assert len(str(caught.value)) < 120


def test_resolve_echo_is_chat_safe() -> None:
    with pytest.raises(UnknownCategoryError) as caught:
        resolve("<!channel>\nfoo")
    assert "<" not in str(caught.value) and "\n" not in str(caught.value)


# --- closest --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "top"),
    [
        ("cs.LF", "cs.LG"),
        ("cslg", "cs.LG"),
        ("csLG", "cs.LG"),
        ("cs lg", "cs.LG"),
        ("cs.Lg ", "cs.LG"),
        ("mathOC", "math.OC"),
        ("math.CO ", "math.CO"),
        ("hepth", "hep-th"),
        ("hep-tj", "hep-th"),
        ("quantph", "quant-ph"),
        ("condmat", "cond-mat"),
        ("maths", "math"),
        ("stats", "stat"),
        ("ai", "cs.AI"),
        # by the words of the name
        ("machine learning", "cs.LG"),
        ("optimization", "math.OC"),
        ("optimisation", "math.OC"),
        ("Computer Vision", "cs.CV"),
        ("number theory", "math.NT"),
        ("robotics", "cs.RO"),
        ("econometrics", "econ.EM"),
        ("probability", "math.PR"),
    ],
)
def test_closest_top_suggestion(text: str, top: str) -> None:
    assert closest(text)[0].id == top


def test_closest_machine_learning_offers_both() -> None:
    assert [c.id for c in closest("machine learning")] == ["cs.LG", "stat.ML"]


def test_closest_respects_n_and_only_suggests_usable_categories() -> None:
    assert len(closest("cs.LF", n=1)) == 1
    assert len(closest("cs.LF", n=5)) == 5
    assert closest("cs.LF", n=0) == ()
    for cat in closest("alg geom chao dyn cmp lg", n=10) + closest("cs.XX", n=10):
        assert cat.active


@pytest.mark.parametrize("text", ["", "   ", "xyzzy", "qqqqqqqq", "x" * 61])
def test_closest_nothing(text: str) -> None:
    assert closest(text) == ()


# --- complete -------------------------------------------------------------------------------------


def test_complete_empty_starts_with_popular() -> None:
    ids = [c.id for c in complete("")]
    assert ids[:6] == ["cs.LG", "cs.AI", "cs.CL", "cs.CV", "stat.ML", "math.OC"]
    assert len(ids) == 25


def test_complete_id_prefix_ids_first_then_names() -> None:
    ids = [c.id for c in complete("cs", limit=200)]
    assert ids[0] == "cs"  # the exact archive first
    assert ids[1:3] == ["cs.LG", "cs.AI"]  # then popular ones
    id_part = [i for i in ids if i.startswith("cs")]
    assert ids[: len(id_part)] == id_part  # every id match before any name match
    assert "physics.comp-ph" in ids[len(id_part) :]  # its name, Computational Physics, contains "cs"


def test_complete_is_case_insensitive() -> None:
    assert [c.id for c in complete("CS.L")] == ["cs.LG", "cs.LO"]
    assert [c.id for c in complete("  math.o")] == ["math.OC", "math.OA"]


def test_complete_by_name() -> None:
    ids = [c.id for c in complete("learn")]
    assert ids == ["cs.LG", "stat.ML"]
    assert complete("Quantum")[0].id == "quant-ph"


def test_complete_only_active() -> None:
    for prefix in ["", "a", "alg", "test", "cmp", "s", "q"]:
        assert all(c.active for c in complete(prefix, limit=500))
    assert complete("alg-geom") == ()


def test_complete_limit() -> None:
    assert len(complete("", limit=3)) == 3
    assert len(complete("math", limit=5)) == 5
    assert complete("math", limit=0) == ()
    assert len(complete("", limit=500)) == 155 + len(taxonomy._archives())


def test_complete_no_match() -> None:
    assert complete("zzz") == ()
