"""From a classification to a signed Verdict: what the person must do under a mode
(confirmation_for), the signature the executor checks (verdict_for, judge)."""

from __future__ import annotations

from actors.guard.classifier import classify
from actors.guard.tree import Classification
from protocol.messages import Confirm, GuardRequest, Mode, SqlClass, Verdict
from protocol.signing import DEFAULT_TTL_S, sign

# =============================================================================================

_READ_WRITE_CONFIRM: dict[str, Confirm] = {
    "write": "confirm",
    "ddl": "confirm",
    "destructive": "typed",
}


def confirmation_for(sql_class: SqlClass, mode: Mode, preview: bool = False) -> Confirm:
    """What the person must do before a statement of `sql_class` runs under `mode`."""
    if sql_class == "read":
        return "preview" if preview else "run"
    if mode != "read-write":  # read-only, and anything unexpected
        return "refuse"
    return _READ_WRITE_CONFIRM.get(sql_class, "refuse")


def verdict_for(
    c: Classification,
    sql: str,
    *,
    profile: str,
    mode: Mode,
    preview: bool,
    key: bytes | None,
    ttl_s: float = DEFAULT_TTL_S,
    catalog: str = "",
) -> Verdict:
    confirm = confirmation_for(c.sql_class, mode, preview)
    signature = None
    if confirm != "refuse" and key is not None:
        signature = sign(key, sql, c.sql_class, profile, mode, ttl_s=ttl_s, catalog=catalog)
    return Verdict(
        sql_class=c.sql_class,
        confirm=confirm,
        statements=c.statements,
        reasons=c.reasons,
        tables=c.tables,
        confirm_name=c.confirm_name if confirm == "typed" else "",
        normalized=c.normalized,
        error=c.error,
        signature=signature,
        catalog=catalog,
    )


def judge(
    sql: str,
    *,
    profile: str,
    mode: Mode,
    preview: bool = False,
    key: bytes,
    ttl_s: float = DEFAULT_TTL_S,
) -> Verdict:
    """classify() + confirmation_for() + signature (none when the verdict is a refusal)."""
    return verdict_for(
        classify(sql), sql, profile=profile, mode=mode, preview=preview, key=key, ttl_s=ttl_s
    )


def on_guard_check(request: GuardRequest, *, key: bytes, ttl_s: float = DEFAULT_TTL_S) -> Verdict:
    """Handler for `guard.check`; the runtime's loop calls it with the per-run key."""
    return judge(
        request.sql,
        profile=request.profile,
        mode=request.mode,
        preview=request.preview,
        key=key,
        ttl_s=ttl_s,
    )


# =============================================================================================
# `pgask check-sql`
# =============================================================================================
