"""LLM text is untrusted: no mentions, no disguised or foreign links, no raw TeX, bounded length."""

from __future__ import annotations

import re

import pytest

from bot.explain.sanitize import is_allowed_link, safe_llm_text, truncate


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<!channel> read this", "read this"),
        ("<!here|here> and <!everyone>", "and"),
        ("ping <@U123ABC> and <@!42> and role <@&456> in <#C999|general>", "ping and and role in"),
        ("@everyone look", "@\u2060everyone look"),
        ("hi @here and @channel", "hi @\u2060here and @\u2060channel"),
        ("[arxiv.org/abs/2604.11422](http://evil.example/x)", "arxiv.org/abs/2604.11422"),
        ("see [the paper](https://arxiv.org/abs/2604.11422)", "see the paper (https://arxiv.org/abs/2604.11422)"),
        ("[doi](https://doi.org/10.1/x)", "doi (https://doi.org/10.1/x)"),
        ("<https://evil.example|https://arxiv.org/abs/1>", "https://arxiv.org/abs/1"),
        ("go to http://evil.example/path. now", "go to [link removed]. now"),
        ("www.evil.example/x", "[link removed]"),
        ("https://arxiv.org/pdf/2604.11422v2 is fine", "https://arxiv.org/pdf/2604.11422v2 is fine"),
        ("https://arxiv.org.evil.example/x", "[link removed]"),
        ("$\\mathcal{O}(n^{2})$ and $\\mathbb{R}^d$", "𝒪(n²) and ℝᵈ"),
        ("the pair <x, y> and a < b > c", "the pair <x, y> and a < b > c"),
        ("  lots \n of   space ", "lots of space"),
    ],
)
def test_safe_llm_text(raw: str, expected: str) -> None:
    assert safe_llm_text(raw, 500) == expected


def test_only_arxiv_and_doi_links_are_allowed() -> None:
    assert is_allowed_link("https://arxiv.org/abs/1") and is_allowed_link("https://export.arxiv.org/x")
    assert is_allowed_link("https://doi.org/10.1/x")
    assert not is_allowed_link("https://evilarxiv.org/x") and not is_allowed_link("javascript:alert(1)")
    assert not is_allowed_link("ftp://arxiv.org/x")


def test_truncation_never_cuts_a_word() -> None:
    text = "alpha beta gamma delta epsilon " * 20
    cut = truncate(text, 50)
    assert len(cut) <= 50 and cut.endswith("…")
    assert cut[:-1].split()[-1] in {"alpha", "beta", "gamma", "delta", "epsilon"}
    assert safe_llm_text("x" * 5000, 100) == "x" * 99 + "…"


# TeX that vanishes when cleaned must not assemble markup after the safety pass has looked.
VANISHING = [
    "{}", "{{}}", "\\relax{}", "\\relax ", "\\!", "\\/", "\\-", "\\@", "$$", "\\protect ", "\\noindent ",
    "\\displaystyle ", "\\negthinspace ", "\\label{x}", "\\hspace{1em}", "\\phantom{}", "\\mbox{}",
]  # fmt: skip
SPACING = ["\\,", "\\ ", "\\;", "\\quad ", "~"]  # these leave a blank: the result must be safe, if not equal


@pytest.mark.parametrize("gap", VANISHING)
def test_markup_hidden_by_vanishing_tex_is_still_caught(gap: str) -> None:
    for template, allowed_out in [
        ("h{g}ttps://evil.example", "[link removed]"),
        ("<{g}!channel> hi", "hi"),
        ("<!{g}here> hi", "hi"),
        ("[arxiv.org]{g}(h{g}ttps://evil.example)", "arxiv.org"),
        ("[arxiv.org](https://evil{g}.example)", "arxiv.org"),
        ("<https://evil.example{g}|arxiv.org>", "arxiv.org"),
        ("@{g}everyone hi", "@\u2060everyone hi"),
        ("\\textless{g}@U123\\textgreater hi", "hi"),
    ]:
        out = safe_llm_text(template.format(g=gap), 500)
        assert out == allowed_out, (gap, template, out)


@pytest.mark.parametrize("gap", SPACING + VANISHING)
def test_whatever_tex_sits_inside_markup_the_result_is_inert(gap: str) -> None:
    for template in ["h{g}ttps://evil.example", "<{g}!channel>", "[arxiv.org]{g}(h{g}ttps://evil.example)", "@{g}here"]:
        out = safe_llm_text(template.format(g=gap), 500)
        assert not re.search(r"://evil|<[!@#]|@(here|everyone)|\]\(", out), (gap, template, out)


def test_removing_one_thing_cannot_assemble_another() -> None:
    assert safe_llm_text("<<!here>!channel> hi", 500) == "hi"
    nested = safe_llm_text("[[x](https://evil.example)](https://evil.example) hi", 500)
    assert "evil" not in nested and "](" not in nested and nested.endswith(" hi")
    assert safe_llm_text("http://a(https://evil.example)", 500) == "[link removed]\u2060([link removed])"


def test_invisible_and_control_characters_are_removed() -> None:
    assert safe_llm_text("\u202elpmaxe.live//:sptth \x1b]8;;https://evil.example\x07x\x1b]8;;\x07", 500) == (
        "lpmaxe.live//:sptth x"
    )
    assert safe_llm_text("h\u200bttps://evil.example @\u202eeveryone", 500) == "[link removed] @\u2060everyone"


def test_a_cut_link_is_not_left_pointing_elsewhere() -> None:
    out = safe_llm_text("see https://export.arxiv.org/abs/2403.00001", 20)
    assert "://" not in out or "://export.arxiv.org/" in out, out


def test_links_elsewhere_hidden_behind_an_allowed_looking_host_are_refused() -> None:
    for url in [
        "https://arxiv.org@evil.example/",
        "https://arxiv.org:443@evil.example/",
        "https://evil.example\\.arxiv.org/",
        "https://arxiv.org%2F@evil.example",
        "https://аrxiv.org/abs/1",  # Cyrillic a
        "https://evil.example#.arxiv.org",
    ]:
        assert not is_allowed_link(url), url
        assert "evil" not in safe_llm_text(f"see {url}", 500) or "://" not in safe_llm_text(f"see {url}", 500)


def test_lines_fit_their_room_with_the_rest_marked_or_the_last_line_cut() -> None:
    from bot.explain.sanitize import fit_lines

    lines = ["one", "", "two", "three " * 20]
    assert fit_lines(lines, 10) == "one\ntwo\n…"
    assert fit_lines(lines, 10, keep_blank=True) == "one\n\ntwo\n…"
    cut = fit_lines(lines, 80, cut_last=True)
    assert cut.startswith("one\ntwo\nthree") and cut.endswith("…") and len(cut) <= 80
    assert fit_lines(["x" * 5], 100) == "x" * 5
