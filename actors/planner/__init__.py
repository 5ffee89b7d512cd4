"""The planner actor: a question plus the session's context in, a plan (or a question back) out.

    actor.py        the actor: one handler per message (PlanRequest, ContextRequest), open_state
    state.py        its state: the config, the model client, caches per profile
    serve.py        how a plan request is served: model or offline planner, then the semantic check
    model.py        planning with the model: schema context, conversation, repair turns
    tools.py        the tools the model may call (list_tables, describe_table, sample_values)
    llm.py          the edge to the model endpoint: the only openai import; retries, mapped errors
    bus.py          what the planner asks other actors (a guard verdict, the rows of a read)
    values.py       the offline planner's value index, read through the guard and the executor
    prompt.py       what the model is told and how its answer is read (pure)
    context.py      which part of the schema the model sees (pure), with terms.py (a question's
                    words), folding.py (folded names split) and schema_text.py (the rendering)
    semantic.py     the semantic check of a read plan, whoever wrote it (pure)
    words.py        the one English word model (singular forms, identifier splitting)
    offline/        the deterministic planner used without a model, one module per stage

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
