"""What an executor holds: its profile, key, pool, catalog cache and audit trail (ExecState),
the batching limits, and how a profile's target is named in messages."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg
import trio

from actors.executor import resolve
from protocol import codec
from protocol.audit import AuditLog
from protocol.config import ProfileConfig
from protocol.messages import Catalog

BATCH_BYTES = 256 * 1024  # what a row batch aims at
BATCH_LIMIT = 4 * BATCH_BYTES  # a batch measured above this is cut by row
ROW_LIMIT = codec.MAX_FRAME_BYTES - 64 * 1024  # one row alone in a message, with room to spare
FIRST_BATCH_ROWS = 100  # the first page reaches the screen before the rest is fetched
RECONNECT_BACKOFF_S = (0.0, 0.25, 0.5, 1.0, 2.0, 5.0)

# -- state --------------------------------------------------------------------------


@dataclass
class ExecState:
    profile: str
    config: ProfileConfig
    key: bytes
    pool: asyncpg.Pool | None = None
    catalog: Catalog | None = None
    failures: int = 0
    next_attempt: float = 0.0
    lock: trio.Lock = field(default_factory=trio.Lock)
    audit: AuditLog | None = None
    full_sql: bool = False  # [privacy] audit_full_sql
    role: str = ""  # the database role pgask connects as
    resolved: resolve.Resolutions = field(default_factory=resolve.Resolutions)
    os_user: str = ""
    audit_error: str = ""  # why the audit trail could not be opened (nothing runs then)
    app_name: str = "pgask"  # application_name: run, profile and incarnation (orphans_prefix)
    orphans_prefix: str = ""  # what every incarnation of this executor in this run is called
    password: str = field(
        default="", repr=False
    )  # typed by the person (ConnectPassword); memory only


def describe_target(cfg: ProfileConfig) -> str:
    if cfg.dsn:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(cfg.dsn)
            host, port = parts.hostname or "local socket", parts.port
        except ValueError:  # a malformed URL is reported by validate_connection, not here
            return "an unreadable URL"
        return f"{parts.path.lstrip('/') or '?'}@{host}" + (f":{port}" if port else "")
    return f"{cfg.dbname or '?'}@{cfg.host or 'local socket'}" + (
        f":{cfg.port}" if cfg.port else ""
    )
