"""Imported once by the forkserver, so a forked actor starts warm (~60 ms, not ~0.8 s).

Only imports: no event loop, no zmq context, no threads (runtime-spike.md §4).
"""

import importlib

import msgspec  # noqa: F401
import trio  # noqa: F401
import zmq  # noqa: F401

import actors._runtime  # noqa: F401
import protocol.codec
import protocol.config
import protocol.signing  # noqa: F401

# openai and sqlglot (planner only, ~1.3 s and ~60 MB) are left to the planner: every forked
# actor would carry them otherwise, and the planner's start overlaps with the person typing.
for _name in (
    "pglast",
    "asyncpg",
    "trio_asyncio",
    "actors.guard",
    "actors.guard.actor",
    "actors.guard.catalog",
    "actors.executor.actor",
    "actors.exporter",
):
    try:
        importlib.import_module(_name)
    except Exception:  # an actor that cannot import fails loudly when it starts, not here
        pass
