"""What one explanation is built from: the paper's full text when there is one, the equations sent to
the model (the grounding, part of the cache key), and the badge saying which."""

from __future__ import annotations

from dataclasses import dataclass

from bot.cards import Explanation, ExplanationEquation
from bot.explain.offline import FULL_TEXT_BADGE, offline_explanation, paper_equations
from bot.explain.prompt import PROMPT_VERSION, Grounding
from bot.explain.render import bare_label
from bot.fulltext import FullText, PaperEquation
from bot.models import Paper
from bot.text import clean_text

__all__ = ["GROUNDED_MARK", "NO_EQUATIONS_BADGE", "NO_JATS_EQUATIONS_BADGE", "Basis"]

NO_EQUATIONS_BADGE = "from the abstract only (no numbered equations in the HTML version)"
NO_JATS_EQUATIONS_BADGE = "from the abstract only (no numbered formulas in the preprint's full text)"
GROUNDED_MARK = "@"  # prompt_version "math-2@v2:3,5": the grounding is part of the cache key


@dataclass(frozen=True, slots=True)
class Basis:
    """What one explanation is built from: the full text when there is one, the equations sent, and
    (without equations) why it is from the abstract only."""

    full_text: FullText | None = None
    grounding: Grounding | None = None  # set only when something of the full text was sent
    abstract_badge: str = ""

    @property
    def prompt_version(self) -> str:
        if self.grounding is None:
            return PROMPT_VERSION
        return f"{PROMPT_VERSION}{GROUNDED_MARK}{self.grounding.key}"

    @property
    def badge(self) -> str:
        if self.grounding is not None and self.full_text is not None:
            return self.full_text.badge
        if self.grounding is not None:
            return FULL_TEXT_BADGE.format(version=self.grounding.version)
        if self.full_text is not None:
            return NO_JATS_EQUATIONS_BADGE if self.full_text.origin == "jats" else NO_EQUATIONS_BADGE
        return self.abstract_badge

    def offline(self, paper: Paper, note: str) -> Explanation:
        return offline_explanation(paper, note=note, full_text=self.full_text, abstract_badge=self.abstract_badge)

    def equation(self, label: str) -> PaperEquation | None:
        if self.grounding is None or not label:
            return None
        wanted = bare_label(label)
        return next((e for e in self.grounding.equations if bare_label(e.label) == wanted), None)

    def equations(self, cited: tuple[str, ...] = ()) -> tuple[ExplanationEquation, ...]:
        """The paper's equations sent that are key ones or that the answer cites, in the paper's order,
        each with the paper's own Unicode and a link to its place."""
        if self.grounding is None or self.full_text is None:
            return ()
        key = {e.url: e for e in paper_equations(self.full_text)}
        cited_urls = {self.grounding.link(e) for e in (self.equation(label) for label in cited) if e is not None}
        shown = []
        for equation in self.grounding.equations:
            url = self.grounding.link(equation)
            if url in key:
                shown.append(key[url])
            elif url in cited_urls:
                unicode = clean_text(f"\\({equation.tex}\\)")
                shown.append(ExplanationEquation(clean_text(equation.label), equation.tex, unicode, url))
        return tuple(shown)
