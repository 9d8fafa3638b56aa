"""A paper's full text for question tests: the real paragraphs of a recorded arXiv HTML page as passages,
with numbered equations built by hand (that page has none), and the paper it belongs to.

The passages are read here with a few lines of selectolax, not with bot.fulltext's extractor: the tests
of grounded questions need real paragraphs whatever the extractor does, and FullText is the contract.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser, LexborNode

from bot.fulltext import FullText, FullTextCache, PaperEquation, Passage
from bot.models import Paper

RECORDED = Path(__file__).parent / "data" / "html" / "2501.11120v1.html"
PAGE_URL = "https://arxiv.org/html/2501.11120v1"

RECORDED_PAPER = Paper(
    id="2501.11120",
    version=1,
    title="Tell me about yourself: LLMs are aware of their learned behaviors",
    authors=("Jan Betley", "Xuchan Bao", "Martín Soto", "Anna Sztyber-Betley", "James Chua", "Owain Evans"),
    categories=("cs.CL", "cs.AI", "cs.LG"),
    primary_category="cs.CL",
    abstract=(
        "We study behavioral self-awareness -- an LLM's ability to articulate its behaviors without requiring "
        "in-context examples. We finetune LLMs on datasets that exhibit particular behaviors, such as (a) making "
        "high-risk economic decisions, and (b) outputting insecure code. Despite the datasets containing no "
        "explicit descriptions of the associated behavior, the finetuned LLMs can explicitly describe it."
    ),
)

# Made up for the tests (the page has no numbered display equations), in the shape bot.fulltext gives.
EQUATIONS = (
    PaperEquation(
        label="1",
        anchor="S3.E1",
        tex=r"\mathrm{risk}(M)=\mathbb{E}_{q\sim Q}\left[\mathbb{1}\{M(q)=\text{risky}\}\right]",
        section="3 Awareness of behaviors",
        appendix=False,
        intro="We measure how risk-seeking a model is by",
        references=3,
        after="where Q is the set of evaluation questions.",
    ),
    PaperEquation(
        label="2",
        anchor="S4.E2",
        tex=r"p_{\mathrm{trigger}}=\frac{1}{n}\sum_{i=1}^{n}\mathbb{1}\{y_i=y^{*}\}",
        section="4 Awareness of backdoors",
        appendix=False,
        intro="The trigger recognition rate is",
        references=1,
        statement="Definition 1",
    ),
)


def _section_of(node: LexborNode) -> str:
    current = node.parent
    while current is not None:
        classes = str(current.attributes.get("class") or "")
        if current.tag == "section" and ("ltx_section" in classes or "ltx_appendix" in classes):
            title = current.css_first("h2")
            return " ".join((title.text() if title else "").split())
        current = current.parent
    return ""


@cache
def recorded_passages() -> tuple[Passage, ...]:
    """Every paragraph of the recorded page outside the abstract, with its section, in the page's order."""
    tree = LexborHTMLParser(RECORDED.read_bytes())
    passages = []
    for para in tree.css("section div.ltx_para"):
        text = " ".join(para.text().split())
        if text:
            passages.append(Passage("paragraph", _section_of(para), text))
    return tuple(passages)


def recorded_full_text(*, url: str = PAGE_URL, passages: tuple[Passage, ...] | None = None) -> FullText:
    sections = tuple(dict.fromkeys(p.section for p in recorded_passages() if p.section))
    chosen = recorded_passages() if passages is None else passages
    return FullText(RECORDED_PAPER.id, RECORDED_PAPER.version, url, sections, EQUATIONS, passages=chosen)


def remember_full_text(database: Path, full_text: FullText) -> None:
    """Put ``full_text`` where an engine on ``database`` finds it before asking arXiv (its on-disk cache)."""
    FullTextCache(database.resolve().parent / "fulltext").put(full_text.paper_id, full_text.version, full_text)
