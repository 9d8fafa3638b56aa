"""How `paperbot explain` and `ask` print: JSON as the contract spells it, or the terminal's text.

One place for both ways `explain` answers (bot.cli_explain from the caches, bot.cli_engine through the
engine), so that the two print the same bytes for the same explanation.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from bot.cards import ExplanationEquation, Reply, render_images_text, render_reply_text
from bot.models import Paper


def print_explanation(paper: Paper, reply: Reply, as_json: bool) -> None:
    if as_json:
        explanation = reply.explanation
        assert explanation is not None
        print_json(
            {
                "paper": paper.to_json(),
                "explanation": {
                    "source": explanation.source,
                    "text": explanation.text,
                    "sections": [
                        {"title": s.title, "text": s.text, "links": [{"label": k.label, "url": k.url} for k in s.links]}
                        for s in explanation.sections
                    ],
                    "cached": explanation.cached,
                    "note": explanation.note,
                    "grounding": explanation.grounding,
                    "equations": [equation_json(e) for e in explanation.equations],
                },
            }
        )
    else:
        print(render_reply_text(reply))
        if reply.images:  # a terminal shows no pictures: where each was drawn
            print("\n" + render_images_text(reply.images))


def equation_json(equation: ExplanationEquation) -> dict[str, Any]:
    return {
        "label": equation.label,
        "tex": equation.tex,
        "unicode": equation.unicode,
        "url": equation.url,
        "image": equation.image,
    }


def print_json(data: dict[str, Any]) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
