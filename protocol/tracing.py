"""Structured logs: one JSON line per event, per process, in the run's log directory.

Fields: ts level actor incarnation pid event trace msg parent, plus the event's own.
The runtime binds trace/msg/parent from the envelope into a contextvar before a
handler runs (trio tasks copy the context at spawn), so handlers only write
`log.info("executor.query.finished", rows=n, ms=elapsed)`.
Event names are `area.object.past_tense`. Nothing here ever writes to the terminal.
"""

from __future__ import annotations

import contextvars
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import msgspec

_EMPTY: dict[str, str] = {}
_bound: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar(
    "pgask_trace", default=_EMPTY
)

_DSN_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)([^@\s]*)(@)")
_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_-]{8})[A-Za-z0-9_-]+")
_PASSWORD_KV = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)


def redact(text: str) -> str:
    """Remove passwords from connection strings and API-key-looking tokens."""
    text = _DSN_PASSWORD.sub(r"\1***\3", text)
    text = _PASSWORD_KV.sub(r"\1***", text)
    return _KEY_LIKE.sub(r"\1***", text)


MAX_LOG_BYTES = 10 * 1024 * 1024  # then <actor>.log becomes <actor>.log.1 (one generation kept)


class Log:
    def __init__(self) -> None:
        self.actor = "?"
        self.incarnation = 0
        self._out: IO[str] | None = None
        self._path: Path | None = None
        self._written = 0
        self._encoder = msgspec.json.Encoder()

    def configure(
        self, actor: str, incarnation: int, log_dir: str | os.PathLike[str] | None
    ) -> None:
        self.actor, self.incarnation = actor, incarnation
        if log_dir:
            Path(log_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
            name = actor.replace(":", "-").replace("/", "_")
            self._out = open(Path(log_dir) / f"{name}.log", "a", buffering=1, encoding="utf-8")

    def _emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if self._out is None:
            return
        record: dict[str, Any] = {
            "ts": round(time.time(), 6),
            "level": level,
            "actor": self.actor,
            "incarnation": self.incarnation,
            "pid": os.getpid(),
            "event": event,
            **_bound.get(),
        }
        for k, v in fields.items():
            record[k] = redact(v) if isinstance(v, str) else v
        try:
            self._out.write(self._encoder.encode(record).decode() + "\n")
        except (TypeError, ValueError):
            self._out.write(
                self._encoder.encode({**record, **{k: repr(v) for k, v in fields.items()}}).decode()
                + "\n"
            )

    def debug(self, event: str, **fields: Any) -> None:
        self._emit("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit("error", event, fields)


log = Log()


@contextmanager
def bound(**fields: str):
    token = _bound.set({**_bound.get(), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _bound.reset(token)


@contextmanager
def span(event: str, **fields: Any):
    start = time.perf_counter()
    log.debug(f"{event}.started", **fields)
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        log.info(
            f"{event}.finished",
            ms=round((time.perf_counter() - start) * 1000, 3),
            outcome=outcome,
            **fields,
        )


def redirect_stdio(
    log_dir: str | os.PathLike[str] | None, actor: str, *, keep_stdin: bool = False
) -> None:
    """Children never write to the terminal the UI owns: stdout/stderr go to a file."""
    if not log_dir:
        return
    Path(log_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    name = actor.replace(":", "-").replace("/", "_")  # URL profiles hold a '/'
    fd = os.open(Path(log_dir) / f"{name}.stderr", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    if keep_stdin:
        return
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
