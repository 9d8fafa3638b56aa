"""The subjects of bioRxiv and medRxiv (package data ``bot/data/biorxiv_subjects.json``) and the
did-you-mean over them, for ``bot.sources.biorxiv``'s feed names."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from bot.sources.preprint_details import subject_key
from bot.user_input import common_prefix_length

__all__ = ["SERVERS", "closest_subjects", "near", "servers"]

SERVERS = ("biorxiv", "medrxiv")


@dataclass(frozen=True, slots=True)
class _Server:
    name: str  # "biorxiv"
    display_name: str  # "bioRxiv"
    site: str
    subjects: tuple[str, ...]  # keys: "cancer_biology"
    labels: Mapping[str, str]  # key -> "Cancer Biology"
    aliases: Mapping[str, str]  # other spelling's key -> key


_SMALL_WORDS = frozenset({"and", "of", "in", "the", "for"})


@cache
def servers() -> dict[str, _Server]:
    raw = resources.files("bot").joinpath("data", "biorxiv_subjects.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(raw)
    servers: dict[str, _Server] = {}
    for name in SERVERS:
        row = data[name]
        keys = tuple(subject_key(s) for s in row["subjects"])
        overrides = {subject_key(k): str(v) for k, v in row["labels"].items()}
        servers[name] = _Server(
            name=name,
            display_name=str(row["display_name"]),
            site=str(row["site"]),
            subjects=keys,
            labels={k: overrides.get(k) or _title(k) for k in keys},
            aliases={subject_key(k): subject_key(v) for k, v in row["aliases"].items()},
        )
    return servers


def _title(key: str) -> str:
    words = key.split("_")
    return " ".join(w if i and w in _SMALL_WORDS else w.capitalize() for i, w in enumerate(words))


def closest_subjects(key: str, subjects: Sequence[str], n: int) -> list[str]:
    """Subjects a user may have meant, best first: a word whose start is right ("cardiology" ->
    cardiovascular_medicine, not urology: a typo usually keeps the start), then difflib's typo score;
    subjects holding every word typed ("cancer") count too."""
    if not key:
        return []
    words = [w for w in key.split("_") if len(w) > 2 and w not in _SMALL_WORDS]
    scored: list[tuple[int, float, str]] = []
    for subject in subjects:
        ratio = difflib.SequenceMatcher(None, key, subject).ratio()
        prefix = max((common_prefix_length(w, s) for w in words for s in subject.split("_")), default=0)
        prefix = prefix if prefix >= 4 else 0
        if ratio >= 0.7 or prefix or (words and all(w in subject for w in words)):
            scored.append((-prefix, -ratio, subject))
    return [subject for *_, subject in sorted(scored)[:n]]


def near(a: str, b: str) -> bool:
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.8
