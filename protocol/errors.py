"""Errors that become `error` replies: what happened, why, what to do next.

PgaskError             .code .message .why .hint; the ui renders it, nobody prints str(e)
├── ConfigError        config or supervisor.toml (names the file and the key)
├── ProtocolError      undecodable frame, unknown kind, version mismatch
├── ActorError         actor.restarted, actor.disabled, actor.unavailable
├── PlannerError       model unreachable, answer had no SQL
├── DatabaseError      db.* (connect failures, query failures, cancel)
└── ExportError        path not writable, disk full
Bugs are not PgaskErrors: they crash the actor and the supervisor restarts it.

Codes are stable dotted names; the UI and scripts may match on them.
"""

from __future__ import annotations

from protocol.messages import Failure


class PgaskError(Exception):
    code = "pgask.error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        why: str = "",
        code: str | None = None,
        retryable: bool | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.why = why
        self.detail = detail
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable

    def to_failure(self) -> Failure:
        return Failure(
            code=self.code,
            message=self.message,
            hint=self.hint,
            why=self.why,
            retryable=self.retryable,
            detail=self.detail,
        )

    def __str__(self) -> str:
        return "\n".join(p for p in (self.message, self.why, self.hint) if p)


class ConfigError(PgaskError):
    code = "config.invalid"


class ProtocolError(PgaskError):
    code = "protocol.bad_message"
    header: object = None  # the decoded header, when only the body or version was wrong


class ActorError(PgaskError):
    code = "actor.unavailable"


class PlannerError(PgaskError):
    code = "llm.failed"


class DatabaseError(PgaskError):
    code = "db.error"


class ExportError(PgaskError):
    code = "export.failed"


def failure_text(f: Failure) -> str:
    """Three short lines for a terminal: what, why, next."""
    return "\n".join(p for p in (f.message, f.why, f.hint) if p)
