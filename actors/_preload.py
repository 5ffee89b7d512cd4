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

for _name in ("pglast", "asyncpg", "trio_asyncio", "sqlglot", "openai", "actors.guard", "actors.planner",
              "actors.executor", "actors.exporter"):  # fmt: skip
    try:
        importlib.import_module(_name)
    except Exception:  # an actor that cannot import fails loudly when it starts, not here
        pass
