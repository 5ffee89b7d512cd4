"""Asking instead of guessing: the exception every stage raises, and the words it ends with."""

from __future__ import annotations

from collections.abc import Sequence

MODEL_HINT = (
    "configure a model ([model] model and base_url in config.toml, or PGASK_MODEL and "
    "PGASK_BASE_URL) for questions like this"
)


class Unsure(Exception):
    """Raised inside the planner to turn into a Clarification (never escapes offline_plan)."""

    def __init__(self, question: str, options: Sequence[str] = ()) -> None:
        super().__init__(question)
        self.question = question
        self.options = list(options)


def not_understood(words: list[str]) -> str:
    quoted = ", ".join(f"'{w}'" for w in dict.fromkeys(words))
    return f"I could not understand {quoted} from this database's tables and columns; {MODEL_HINT}."
