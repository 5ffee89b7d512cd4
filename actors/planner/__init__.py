"""The planner actor: a question plus the session's context in, a plan (or a question back) out.

    actor.py     the actor: one handler per message (PlanRequest, ContextRequest), its state
    serve.py     how a plan request is served: catalog, model or offline planner, semantic check
    values.py    the offline planner's value index, read through the guard and the executor
    model.py     talking to the model: the conversation, its tools, the repair turns
    llm.py       the edge to the model endpoint: one openai call with retries, mapped errors
    prompt.py    what the model is told and how its answer is read (pure)
    context.py   which part of the schema the model sees (pure); render.py draws it
    semantic.py  the semantic check of a read plan, whoever wrote it (pure)
    words.py     the one English word model (singular forms, identifier splitting)
    offline/     the deterministic planner used without a model, by pipeline stage

It may import only `actors.planner.**`, the runtime (`actors._runtime`) and `protocol`
(tests/unit/test_layering.py). The supervisor starts it by the module name `actors.planner`:
`ACTOR` is re-exported here (loaded on first use, so importing a pure module such as
`actors.planner.words` does not load the actor) and `python -m actors.planner` runs
`__main__.py`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ACTOR"]


def __getattr__(name: str) -> Any:
    # `importlib.import_module("actors.planner").ACTOR` is how the forkserver path starts it
    if name == "ACTOR":
        from actors.planner.actor import ACTOR

        return ACTOR
    raise AttributeError(f"module 'actors.planner' has no attribute {name!r}")
