"""Signed guard verdicts (DESIGN §3 "Trust").

The guard signs what it decided with an HMAC key that only the supervisor, the guard
and the executors receive at spawn. An executor runs a statement only when the
signature matches the exact SQL text, this profile, the session mode and is not
expired, so nothing between the guard and the executor (a planner bug, a prompt
injection, a forged message) can route around the guard.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from protocol.messages import Mode, Signature, SqlClass

DEFAULT_TTL_S = 300.0


def sql_digest(sql: str) -> str:
    return hashlib.sha256(sql.encode("utf-8", "surrogatepass")).hexdigest()


def _mac(
    key: bytes,
    digest: str,
    sql_class: str,
    profile: str,
    mode: str,
    expires_at: float,
    catalog: str = "",
) -> str:
    msg = "\x1f".join((digest, sql_class, profile, mode, repr(expires_at), catalog)).encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def sign(
    key: bytes,
    sql: str,
    sql_class: SqlClass,
    profile: str,
    mode: Mode,
    *,
    ttl_s: float = DEFAULT_TTL_S,
    now: float | None = None,
    catalog: str = "",
) -> Signature:
    expires_at = round((time.time() if now is None else now) + ttl_s, 3)
    digest = sql_digest(sql)
    return Signature(
        sql_sha256=digest,
        sql_class=sql_class,
        profile=profile,
        mode=mode,
        expires_at=expires_at,
        mac=_mac(key, digest, sql_class, profile, mode, expires_at, catalog),
        catalog=catalog,
    )


def check(
    key: bytes, sql: str, sig: Signature, profile: str, *, now: float | None = None
) -> str | None:
    """None when `sig` is a valid, current verdict for `sql` on `profile`; else why not."""
    expected = _mac(
        key, sig.sql_sha256, sig.sql_class, sig.profile, sig.mode, sig.expires_at, sig.catalog
    )
    # bytes, not str: compare_digest raises TypeError on a non-ASCII str (a forged mac)
    given = sig.mac.encode("utf-8", "surrogatepass")
    if not hmac.compare_digest(expected.encode(), given):
        return "the verdict's signature does not match (it was not issued by this run's guard)"
    if sig.sql_sha256 != sql_digest(sql):
        return "the verdict was issued for a different SQL text"
    if sig.profile != profile:
        return f"the verdict was issued for profile '{sig.profile}', not '{profile}'"
    if (time.time() if now is None else now) > sig.expires_at:
        return "the verdict has expired; check the statement again"
    return None
