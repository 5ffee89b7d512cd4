"""asyncpg and socket errors -> DatabaseError with what / why / next, at one boundary
(`with map_errors(state):`).

Both maps are data, read top to bottom, first match wins: SQLSTATES for the server's errors
(a code ending in `*` is a whole class), EXCEPTIONS for the driver's and the socket's. Their
texts are templates over the names in `_fields()` ({p} is the profile, {target} its database
and host, {msg} the server's message, {exc} the exception's)."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl

import asyncpg
import msgspec
import trio

from actors.executor.state import ExecState, describe_target
from protocol.config import settings_place
from protocol.errors import DatabaseError


class Mapping(msgspec.Struct, frozen=True, kw_only=True):
    """What one kind of error becomes. `contains`: only when the message has this text;
    `connecting`: only while connecting (True), only after (False), either (None); `errnos`:
    only for an OSError with one of these errno values."""

    code: str
    message: str
    why: str = "{msg}"
    hint: str = ""
    retryable: bool = False
    contains: str = ""
    connecting: bool | None = None
    errnos: tuple[int, ...] = ()


_CONNECT = "Could not connect to profile '{p}' ({target})"
_LOST = Mapping(
    code="db.connection_lost",
    message="The connection to profile '{p}' ({target}) was lost.",
    why="{exc}",
    hint="The server may have restarted; run it again and pgask will reconnect.",
    retryable=True,
)

SQLSTATES: tuple[tuple[tuple[str, ...], Mapping], ...] = (
    (
        ("28P01", "28000"),
        Mapping(
            code="db.ssl_required",
            contains="no encryption",
            message=_CONNECT + ": the server requires SSL.",
            hint='Set sslmode = "require" (or verify-full) {at}.',
        ),
    ),
    (
        ("28P01", "28000"),
        Mapping(
            code="db.auth_failed",
            message=_CONNECT + ": authentication failed.",
            hint="Check the user and password: PGPASSWORD, ~/.pgpass, or password_env {at}"
            "{password_env}",
        ),
    ),
    (
        ("3D000",),
        Mapping(
            code="db.database_missing",
            message=_CONNECT + ": the database does not exist.",
            hint="Fix dbname {at}, or create it with `createdb`.",
        ),
    ),
    (
        ("53300",),
        Mapping(
            code="db.too_many_connections",
            message=_CONNECT + ": the server has too many connections.",
            hint="Close idle sessions or raise max_connections on the server; pgask will retry.",
            retryable=True,
        ),
    ),
    (
        ("42501",),
        Mapping(
            code="db.permission_denied",
            connecting=False,
            message="Profile '{p}' lacks permission for that.",
            hint="Ask the database owner for the privilege (GRANT), or use a profile whose "
            "role has it.",
        ),
    ),
    (
        ("42501",),
        Mapping(
            code="db.permission_denied",
            message=_CONNECT + ": permission denied.",
            hint="Ask the database owner for the privilege (GRANT), or use a profile whose "
            "role has it.",
        ),
    ),
    (
        ("57014",),
        Mapping(
            code="db.statement_timeout",
            contains="statement timeout",
            message="Could not run the query on profile '{p}'.",
            why="PostgreSQL cancelled it after {statement_timeout_s:g} s (statement_timeout "
            "for this profile).",
            hint="Add a LIMIT or a narrower WHERE, or raise statement_timeout_s {at}.",
        ),
    ),
    (
        ("55P03",),
        Mapping(
            code="db.lock_timeout",
            message="Could not run the statement on profile '{p}': a lock was not granted in time.",
            why="Another session holds a conflicting lock (lock_timeout = {lock_timeout_s:g} s).",
            hint="Try again when the other transaction has finished; see pg_stat_activity for "
            "who holds it.",
            retryable=True,
        ),
    ),
    (
        ("25006",),
        Mapping(
            code="db.read_only_sql_transaction",
            message="PostgreSQL refused to change data on profile '{p}'.",
            why="pgask runs reads in a READ ONLY transaction, and this statement writes ({msg}).",
            hint="Switch to read-write mode (/mode read-write) to run it with a confirmation.",
        ),
    ),
    (("08*", "57P01", "57P02", "57P03"), msgspec.structs.replace(_LOST, why="{msg}")),
    (
        ("42601",),
        Mapping(
            code="db.several_statements",
            contains="multiple commands",
            message="pgask runs one statement at a time on profile '{p}', and this text holds "
            "several.",
            why="Each statement is checked and run in its own transaction; nothing was run.",
            hint='Run them one by one, or all in order with `pgask sql "..."` (each is '
            "checked on its own first).",
        ),
    ),
)

EXCEPTIONS: tuple[tuple[tuple[type[BaseException], ...], Mapping], ...] = (
    (
        (RecursionError,),  # e.g. 2,000 ROW()s inside each other: refuse, live on
        Mapping(
            code="db.result_too_deep",
            message="Could not return the result on profile '{p}'.",
            why="A value in it is nested too deeply to send (thousands of levels of rows or "
            "arrays).",
            hint="Select the nested value as text (value::text), or flatten it.",
        ),
    ),
    (
        (asyncpg.ClientConfigurationError,),  # a libpq-style setting asyncpg rejects
        Mapping(
            code="config.connection_invalid",
            message="Could not connect to profile '{p}': its connection settings are not valid.",
            why="{exc}",
            hint="Fix the setting {at}, or the PG* environment variable that sets it "
            "(PGSSLMODE, PGPORT ...).",
        ),
    ),
    (
        (
            asyncpg.InterfaceError,
            asyncpg.exceptions.ConnectionDoesNotExistError,
            ConnectionResetError,
            BrokenPipeError,
        ),
        msgspec.structs.replace(_LOST, connecting=False),
    ),
    (
        (socket.gaierror,),
        Mapping(
            code="db.dns_failed",
            message=_CONNECT + ": the host name does not resolve.",
            why="{exc}",
            hint="Check the host {at} for a typo, and your DNS.",
        ),
    ),
    *(
        (
            types,
            Mapping(
                code="db.connection_refused",
                message=_CONNECT + ": connection refused.",
                why="Nothing is listening there.",
                hint="Is the server running on that host and port? Check host/port {at}.",
                retryable=True,
                connecting=connecting,
                errnos=errnos,
            ),
        )
        for types, connecting, errnos in (
            ((ConnectionRefusedError, FileNotFoundError), None, ()),
            ((OSError,), True, (111, 61, 2)),
        )
    ),
    (
        (TimeoutError, asyncio.TimeoutError),
        Mapping(
            code="db.connect_timeout",
            connecting=True,
            message=_CONNECT + ": no answer within {connect_timeout_s:g} s.",
            why="The host did not respond (firewall, wrong port, or the server is overloaded).",
            hint="Check host/port {at}, or raise connect_timeout_s there.",
            retryable=True,
        ),
    ),
    (
        (ssl.SSLError, ConnectionError),
        Mapping(
            code="db.ssl_failed",
            connecting=True,
            message=_CONNECT + ": the SSL handshake failed.",
            why="{exc}",
            hint="Check sslmode / sslrootcert {at}; the server may not offer SSL.",
        ),
    ),
    (
        (OSError,),
        Mapping(
            code="db.connect_failed",
            connecting=True,
            message=_CONNECT + ".",
            why="{exc}",
            hint="Check the connection settings {at}.",
        ),
    ),
)


class map_errors:
    """asyncpg and socket exceptions -> DatabaseError with what / why / next."""

    def __init__(self, state: ExecState, *, connecting: bool = False) -> None:
        self.state, self.connecting = state, connecting

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> bool:
        if exc is None or isinstance(exc, trio.Cancelled | DatabaseError):
            return False
        err = translate(exc, self.state, connecting=self.connecting)
        if err is None:
            return False
        if err.code == "db.connection_lost":
            self.state.pool = None  # the next request reconnects
        raise err from exc


def translate(exc: BaseException, state: ExecState, *, connecting: bool) -> DatabaseError | None:
    """The DatabaseError `exc` becomes, or None when it is not a database error (a bug)."""
    fields = _fields(exc, state)
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, asyncpg.PostgresError):
        code = exc.sqlstate or ""
        for codes, m in SQLSTATES:
            if _sqlstate_matches(code, codes) and _applies(m, exc, fields["msg"], connecting):
                return _error(m, fields, detail)
        position = getattr(exc, "position", None)
        return DatabaseError(
            f"PostgreSQL refused the statement on profile '{state.profile}'.",
            why=fields["msg"] + (f" (at character {position})" if position else ""),
            hint=getattr(exc, "hint", None)
            or "Fix the SQL (Edit puts it in the input line) and run it again.",
            code=f"db.{_snake(type(exc).__name__)}",
            detail=detail,
        )
    for types, m in EXCEPTIONS:
        if isinstance(exc, types) and _applies(m, exc, fields["msg"], connecting):
            return _error(m, fields, detail)
    return None


def _fields(exc: BaseException, state: ExecState) -> dict[str, object]:
    cfg = state.config
    return {
        "p": state.profile,
        "target": describe_target(cfg),
        "msg": str(exc),
        "exc": str(exc),
        "at": settings_place(state.profile),  # a URL profile has no [profiles.*] section
        "password_env": f" (now '{cfg.password_env}')." if cfg.password_env else ".",
        "statement_timeout_s": cfg.statement_timeout_s,
        "lock_timeout_s": cfg.lock_timeout_s,
        "connect_timeout_s": cfg.connect_timeout_s,
    }


def _sqlstate_matches(code: str, codes: tuple[str, ...]) -> bool:
    return any(code.startswith(c[:-1]) if c.endswith("*") else code == c for c in codes)


def _applies(m: Mapping, exc: BaseException, msg: object, connecting: bool) -> bool:
    if m.connecting is not None and m.connecting != connecting:
        return False
    if m.errnos and getattr(exc, "errno", None) not in m.errnos:
        return False
    return m.contains in str(msg)


def _error(m: Mapping, fields: dict[str, object], detail: str) -> DatabaseError:
    return DatabaseError(
        m.message.format(**fields),
        why=m.why.format(**fields),
        hint=m.hint.format(**fields),
        code=m.code,
        retryable=m.retryable,
        detail=detail,
    )


def _snake(name: str) -> str:
    return re.sub(
        r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name.removesuffix("Error")
    ).lower()
