"""Reading an abstract for the briefing: its sentences, the one stating the main result, its closing
sentences, and the phrases that say what the paper is about.

The briefing's prompt gets each paper's main result and closing sentences instead of the abstract's
opening (which is mostly context: "Diffusion models achieve superior quality but …"), and the offline
briefing groups papers by the concepts they are *about* (the title, the sentences saying what the paper
does), never by a concept an abstract only mentions in passing: an example list ("methods such as random
forests, neural nets and …"), a baseline ("outperforms random forests"), a tool ("we further applied a
Bayesian analysis"). Pure functions over text, no I/O; a cut is always at a word boundary, marked "…".
"""

from __future__ import annotations

import re

__all__ = [
    "about_text",
    "closing_sentences",
    "cut_words",
    "defining_sentence",
    "defining_sentences",
    "main_result",
    "result_score",
    "sentences",
    "without_examples",
]

ELLIPSIS = "…"

# Words ending in a full stop that end no sentence. Compared lower-cased, without the final dot.
_ABBREVIATIONS = frozenset(
    "e.g i.e cf vs al fig figs eq eqs eqn sec resp approx ref refs no nos dr prof mr ms st jr sr viz"
    " thm lem prop def cor appx ch ca".split()
)
# A sentence ends at . ! or ? (and a closing quote or bracket), then blanks, then what starts a sentence.
_END = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9$\\ΑαΒβΓγΔδΘθΛλΣσΦφΨψΩω𝔼ℙℝ])")
_LAST_WORD = re.compile(r"([A-Za-z.]+)[.!?][\"'”’)\]]*\s+$")


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, in order, blanks collapsed. A full stop after an abbreviation ("e.g.",
    "et al.", "Fig.") or inside $…$ math ends no sentence; decimals never do."""
    text = " ".join(text.split())
    found: list[str] = []
    start = 0
    for match in _END.finditer(text):
        head = text[start : match.end()]
        last = _LAST_WORD.search(head)
        word = last.group(1).lower().rstrip(".") if last else ""
        if word in _ABBREVIATIONS:  # a lone capital ("surrounding M. We …") is a symbol more often than an initial
            continue
        if text.count("$", 0, match.start()) % 2:  # inside inline math
            continue
        found.append(head.strip())
        start = match.end()
    if text[start:].strip():
        found.append(text[start:].strip())
    return found


# --- the main result ---------------------------------------------------------------------------------

# What a sentence stating a result says, each with its weight. A claim verb in the first person or a
# comparison is worth most; numbers and rates make a result concrete.
_RESULT_CUES: tuple[tuple[re.Pattern[str], int], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), weight)
    for pattern, weight in (
        (r"\bwe (?:also |further |then |formally |rigorously )?(?:prove|establish|show|demonstrate|derive|obtain|"
         r"find|identify|characteri[sz]e)\b|\bit is (?:shown|proved|proven|established)\b", 4),
        (r"\b(?:experiments?|results?|simulations?|evaluations?|analys[ie]s|studies|benchmarks?)"
         r" (?:also )?(?:show|demonstrate|confirm|indicate|reveal|suggest)\w*\b", 3),
        (r"\b(?:superior|significant(?:ly)?|better|higher|lower|first)\b", 1),
        (r"\b(?:achiev|outperform|surpass|improv|reduc|beat|exceed|match)\w*\b", 3),
        (r"\bstate[- ]of[- ]the[- ]art\b|\bSOTA\b", 2),
        (r"\b(?:theorem|bound|rate|guarantee|minimax|optimal|consisten(?:t|cy)|converge\w*|complexity|regret|"
         r"lower bound|upper bound|tight|sharp|asymptotic\w*|speed-?up|faster|accuracy)\b", 2),
        (r"\d+(?:\.\d+)?\s*(?:%|×|x\b|times\b|fold\b|points?\b|pp\b)", 3),
        (r"\b[OΘΩÕo]\s*\(|√|\bsqrt\b|\blog\b|[≤≥<>≈∼≍]|\^", 2),
        (r"\d", 1),
        (r"\bour (?:results?|method|approach|analysis|framework|model|estimator|algorithm)\b", 1),
    )
)
# A sentence setting the scene, not stating what this paper found.
_CONTEXT = re.compile(
    r"^(?:however|while|although|recent(?:ly)?|existing|previous(?:ly)?|prior|traditional(?:ly)?|"
    r"many|most|despite|in recent years|current|conventional)\b",
    re.IGNORECASE,
)


def result_score(sentence: str) -> int:
    """How much ``sentence`` reads as a stated result (0: not at all)."""
    score = sum(weight for cue, weight in _RESULT_CUES if cue.search(sentence))
    if score and _CONTEXT.match(sentence):
        score -= 4
    return max(score, 0)


def main_result(abstract: str) -> str | None:
    """The abstract's sentence stating its result ("we prove …", "achieves …", "outperforms …", numbers),
    or None when no sentence reads as one. The opening sentence wins only when it alone states one."""
    found = sentences(abstract)
    best: tuple[int, int] | None = None  # (score, -index): the highest score, the earliest of equals
    for index, sentence in enumerate(found):
        score = result_score(sentence) - (2 if index == 0 and len(found) > 1 else 0)
        if score >= 3 and (best is None or (score, -index) > best):
            best = (score, -index)
    return None if best is None else found[-best[1]]


# "The code will be made publicly available at …": a closing sentence that says nothing of the paper.
_AVAILABILITY = re.compile(
    r"\b(?:code|data(?:sets?)?|implementation|models?|weights|benchmark|software|package)\b.*"
    r"\b(?:available|released?|open[- ]?sourced?|public(?:ly)?)\b|https?://|\bgithub\b|\bwww\.",
    re.IGNORECASE,
)


def closing_sentences(abstract: str, count: int = 2, skip: str | None = None) -> list[str]:
    """The abstract's last ``count`` sentences (its conclusion, where abstracts say what it means), without
    ``skip`` (the main result, when it is one of them), never its first sentence, and without a closing
    word on where the code or data is (no substance, and a link the prompt has no use for)."""
    found = [s for s in sentences(abstract)[1:] if s != skip and not _AVAILABILITY.search(s)]
    return found[-count:] if count > 0 else []


def cut_words(text: str, max_chars: int) -> str:
    """``text`` at most ``max_chars`` long, cut at a word boundary and marked "…" when cut."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    if max_chars <= len(ELLIPSIS):
        return ""
    head = text[: max_chars - len(ELLIPSIS) + 1]
    space = head.rfind(" ")
    head = head[:space] if space > 0 else ""
    return (head.rstrip(" ,;:—–-") + ELLIPSIS) if head else ""


# --- what a paper is about -------------------------------------------------------------------------

# The paper saying what it does: "we propose", "this paper studies", "in this work", "X is introduced".
# The verb follows its subject, with at most adverbs between ("we also develop"): "we apply the proposed
# method to X" says where the method was tried, not what the paper is about.
_VERB = (
    r"(?:propose[sd]?|introduce[sd]?|present(?:s|ed)?|stud(?:y|ies|ied)|consider(?:s|ed)?|develop(?:s|ed)?|"
    r"investigate[sd]?|analy[sz]e[sd]?|address(?:es|ed)?|tackle[sd]?|focus(?:es|ed)?|examine[sd]?|"
    r"explore[sd]?|formulate[sd]?|design(?:s|ed)?|establish(?:es|ed)?|derive[sd]?|prove[sd]?|provide[sd]?|"
    r"describe[sd]?|characteri[sz]e[sd]?|extend(?:s|ed)?|generali[sz]e[sd]?|revisit(?:s|ed)?|"
    r"construct(?:s|ed)?|discuss(?:es|ed)?|give[sn]?|obtain(?:s|ed)?)"
)
_SUBJECT = (
    r"(?:we|this (?:paper|work|article|note|study|thesis|letter|manuscript|chapter)|here|herein|"
    r"our (?:paper|work|goal|aim|contributions?|approach|method|framework))"
)
_ADVERBS = r"(?:\s+(?:\w+ly|also|further|first|then|here|now|thus|therefore|hence|moreover|finally|can|will))*"
_DEFINING = re.compile(
    rf"\b{_SUBJECT}{_ADVERBS}\s+{_VERB}\b"
    r"|\bin this (?:paper|work|article|note|study|letter)\b"
    r"|\b(?:is|are) (?:newly )?(?:proposed|introduced|developed|studied|investigated|derived)\b",
    re.IGNORECASE,
)
# Where a list of examples, a comparison or an application starts: what follows names things in passing,
# to the end of its clause (where such a list ends cannot be told).
_PASSING = re.compile(
    r"\b(?:such as|e\.\s?g\.|for (?:example|instance)|including|(?<![\w-])like|among (?:them|others)|"
    r"outperform\w*|than|compared (?:to|with)|in comparison (?:to|with)|versus|vs\.|relative to|against|"
    r"beyond|applications? (?:to|in|of)|applied to|appl(?:y|ies|ying) (?:it |them |this |these )?to)(?!\w)",
    re.IGNORECASE,
)
# A phrase naming what the work builds on or departs from, up to its comma: "Inspired by X, we …".
_LEADING = re.compile(
    r"\b(?:inspired by|building (?:on|upon)|built (?:on|upon)|based on|following|unlike|in contrast to|"
    r"motivated by|in line with)(?!\w)[^,;:]*,?",
    re.IGNORECASE,
)
_PARENTHESIS = re.compile(r"\([^()]*\)")
_CLAUSE_END = re.compile(r"[;:]|$")


def without_examples(sentence: str) -> str:
    """``sentence`` without what it names in passing: parentheses holding a list or an example, and from
    each example or comparison marker to the end of its clause (where such a list ends cannot be told)."""
    text = _PARENTHESIS.sub(lambda m: " " if "," in m.group() or _PASSING.search(m.group()) else m.group(), sentence)
    text = _LEADING.sub(" ", text)
    while (marker := _PASSING.search(text)) is not None:
        end = _CLAUSE_END.search(text, marker.end())
        stop = end.start() if end is not None else len(text)
        text = text[: marker.start()] + text[stop:]
    return " ".join(text.split())


def defining_sentences(abstract: str) -> list[str]:
    """The sentences of ``abstract`` saying what the paper does, without their examples and comparisons."""
    return [without_examples(s) for s in sentences(abstract) if _DEFINING.search(s)]


def defining_sentence(abstract: str) -> str | None:
    """The abstract's first sentence saying what the paper does, as written; None when none does."""
    return next((s for s in sentences(abstract) if _DEFINING.search(s)), None)


def about_text(title: str, abstract: str) -> str:
    """What a paper is about, as text to look concepts up in: its title and its defining sentences. The
    middle dot keeps a name from spanning two of them."""
    return " · ".join([title, *defining_sentences(abstract)])
