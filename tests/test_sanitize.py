"""LLM text is untrusted: no mentions, no disguised or foreign links, no raw TeX, bounded length."""

from __future__ import annotations

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
