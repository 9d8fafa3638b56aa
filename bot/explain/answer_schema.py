"""The structured explanation a model answers with: its JSON schema, its shape check, and its stored form.

Every claim carries its source ("abstract", "Eq. (3)", a section title, "background"), so a reader can
tell what the paper says from what the model adds. An equation is cited by one of the labels the prompt
gave; the bot shows that equation from the paper's own TeX and takes only its meaning from the model.
Any other formula is background and says in one line why it is there.

The schema is strict-ready (every property required, no others), as OpenAI's structured outputs want.
``answer_to_data`` writes the same shape ``parse_answer`` reads: the cache stores an answer as the model
would have sent it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ANSWER_SCHEMA",
    "CitedEquation",
    "Claim",
    "MalformedAnswer",
    "StructuredAnswer",
    "Symbol",
    "answer_to_data",
    "parse_answer",
]

MAX_LABEL_CHARS = 16  # "A.12b"; a longer "label" in an answer is not one of the paper's
NOT_STATED = "Not stated in the given text."


class MalformedAnswer(ValueError):
    """The model's structured answer is missing fields or has the wrong shape."""


@dataclass(frozen=True, slots=True)
class Claim:
    text: str
    source: str = ""  # "abstract", "Eq. (3)", "3 Method", "background"; "" when the model named none


@dataclass(frozen=True, slots=True)
class Symbol:
    symbol: str
    meaning: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class CitedEquation:
    """``label`` one of the given equations' (its formula then comes from the paper), or "" for a
    background formula, which says in ``background`` why it is there."""

    label: str
    formula: str
    meaning: str
    background: str = ""


@dataclass(frozen=True, slots=True)
class StructuredAnswer:
    """The model's answer, shape-checked but not yet sanitised (it is untrusted text)."""

    problem: Claim
    main_result: Claim  # in its exact quantitative form, or NOT_STATED
    novelty: Claim  # what is new against the prior work the text names, or NOT_STATED
    notation: tuple[Symbol, ...]
    equations: tuple[CitedEquation, ...]
    idea: Claim
    stated_assumptions: tuple[Claim, ...]  # what the paper assumes, as it states it
    caveats: tuple[Claim, ...]  # what a reader should keep in mind beyond those
    prerequisites: tuple[str, ...]
    math_in_a_sentence: str

    @property
    def equation_labels(self) -> tuple[str, ...]:
        return tuple(e.label for e in self.equations)

    def strings(self) -> tuple[str, ...]:
        """Every string of the answer, for bounds and encoding checks."""
        claims = (self.problem, self.main_result, self.novelty, self.idea, *self.stated_assumptions, *self.caveats)
        out: list[str] = [self.math_in_a_sentence, *self.prerequisites]
        out += [part for c in claims for part in (c.text, c.source)]
        out += [part for s in self.notation for part in (s.symbol, s.meaning, s.source)]
        out += [part for e in self.equations for part in (e.label, e.formula, e.meaning, e.background)]
        return tuple(out)

    def list_lengths(self) -> tuple[int, ...]:
        lists = (self.notation, self.equations, self.stated_assumptions, self.caveats, self.prerequisites)
        return tuple(len(items) for items in lists)


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


_SOURCE = _string('Where it comes from: "abstract", "Eq. (n)" of a given equation, a section title, or "background"')


def _claim(description: str) -> dict[str, Any]:
    claim = _object(text=_string(description), source=_SOURCE)
    claim["description"] = description
    return claim


def _array(item: dict[str, Any], description: str) -> dict[str, Any]:
    return {"type": "array", "description": description, "items": item}


ANSWER_SCHEMA: dict[str, Any] = _object(
    problem=_claim("What the paper is about, mathematically (1-2 sentences)"),
    main_result=_claim(f"The main result in its exact quantitative form as the text states it, or {NOT_STATED!r}"),
    novelty=_claim(f"What is new against the prior work the text names, or {NOT_STATED!r}"),
    notation=_array(
        _object(
            symbol=_string("A symbol as the text writes it"), meaning=_string("What it stands for"), source=_SOURCE
        ),
        "Key objects and symbols of the text",
    ),
    equations=_array(
        _object(
            label=_string('The label of a given <equation> ("3"), or "" for a background formula'),
            formula=_string('"" for a given equation (the bot shows the paper\'s own); else the formula in Unicode'),
            meaning=_string("What it says, in one sentence"),
            background=_string('"" for a given equation; else one line on why this formula not in the text helps'),
        ),
        "Central equations, most important first",
    ),
    idea=_claim("The key idea and why it works"),
    stated_assumptions=_array(_claim("An assumption the text states"), "The assumptions the text states"),
    caveats=_array(_claim("A limit or caveat"), "Limits a reader should keep in mind beyond the stated assumptions"),
    prerequisites=_array(_string("A concept"), "Concepts to know first"),
    math_in_a_sentence=_string("The mathematical gist in one sentence"),
)


def parse_answer(data: Any) -> StructuredAnswer:
    """Shape-check a structured answer; anything off raises MalformedAnswer (the caller retries/falls back)."""
    if not isinstance(data, dict):
        raise MalformedAnswer("answer is not an object")
    try:
        return StructuredAnswer(
            problem=_claim_of(data["problem"]),
            main_result=_claim_of(data["main_result"]),
            novelty=_claim_of(data["novelty"]),
            notation=tuple(_symbol_of(item) for item in _list(data["notation"])),
            equations=tuple(_equation_of(item) for item in _list(data["equations"])),
            idea=_claim_of(data["idea"]),
            stated_assumptions=_claims(data["stated_assumptions"]),
            caveats=_claims(data["caveats"]),
            prerequisites=_text_list(data["prerequisites"]),
            math_in_a_sentence=_text(data["math_in_a_sentence"]),
        )
    except KeyError as err:
        raise MalformedAnswer(f"answer lacks {err.args[0]!r}") from None


def answer_to_data(answer: StructuredAnswer) -> dict[str, Any]:
    """The answer in the schema's shape (what ``parse_answer`` reads back)."""

    def claim(c: Claim) -> dict[str, str]:
        return {"text": c.text, "source": c.source}

    return {
        "problem": claim(answer.problem),
        "main_result": claim(answer.main_result),
        "novelty": claim(answer.novelty),
        "notation": [{"symbol": s.symbol, "meaning": s.meaning, "source": s.source} for s in answer.notation],
        "equations": [
            {"label": e.label, "formula": e.formula, "meaning": e.meaning, "background": e.background}
            for e in answer.equations
        ],
        "idea": claim(answer.idea),
        "stated_assumptions": [claim(c) for c in answer.stated_assumptions],
        "caveats": [claim(c) for c in answer.caveats],
        "prerequisites": list(answer.prerequisites),
        "math_in_a_sentence": answer.math_in_a_sentence,
    }


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedAnswer("expected a list")
    return value


def _optional(item: dict[str, Any], key: str) -> str:
    value = item.get(key, "")
    if not isinstance(value, str):
        raise MalformedAnswer(f"{key} is not a string")
    return value


def _claim_of(value: Any) -> Claim:
    """A claim: an object with text and source, or (a model that forgot the source) a plain string."""
    if isinstance(value, str):
        return Claim(_text(value))
    if not isinstance(value, dict):
        raise MalformedAnswer("expected a claim with text and source")
    return Claim(_text(value.get("text")), _optional(value, "source"))


def _claims(value: Any) -> tuple[Claim, ...]:
    if isinstance(value, str):  # a model that answers a list with one string: accept it
        value = [value]
    claims = []
    for item in _list(value):
        text = item.get("text") if isinstance(item, dict) else item
        if isinstance(text, str) and not text.strip():
            continue  # an empty item says nothing: dropped, as an empty list item always was
        claims.append(_claim_of(item))
    return tuple(claims)


def _symbol_of(item: Any) -> Symbol:
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("symbol"), str)
        or not isinstance(item.get("meaning"), str)
    ):
        raise MalformedAnswer("expected objects with symbol and meaning")
    return Symbol(item["symbol"], item["meaning"], _optional(item, "source"))


def _equation_of(item: Any) -> CitedEquation:
    if not isinstance(item, dict) or not isinstance(item.get("meaning"), str):
        raise MalformedAnswer("expected equations with a meaning")
    formula = item.get("formula", "")
    if not isinstance(formula, str):
        raise MalformedAnswer("formula is not a string")
    background = item.get("background", "")
    return CitedEquation(
        _label(item.get("label")), formula, item["meaning"], background if isinstance(background, str) else ""
    )


def _label(value: Any) -> str:
    """A label that is not a short string is no label: it only decides whether the paper's equation is shown."""
    if not isinstance(value, str):
        return ""
    value = " ".join(value.split())
    return value if len(value) <= MAX_LABEL_CHARS else ""


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MalformedAnswer("expected a non-empty string")
    return value


def _text_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedAnswer("expected a list of strings")
    return tuple(v for v in value if v.strip())
