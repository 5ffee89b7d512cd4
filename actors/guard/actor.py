"""guard: decides whether a SQL text may run, and what the person must do first.

Receives: GuardRequest.  Replies: Verdict (or an error when a profile's database cannot be
asked).  Restart: permanent (stateless).  Resources: the per-run verdict key.

The text is judged by actors/guard/classifier.py (classify); for a profile, its reads are also
judged against that database (actors/guard/catalog.py, with the executor's ResolveRequest), and the
verdict is signed with the catalog's safety fingerprint, which the executor checks again in
the read's own transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import msgspec
import trio

from actors._runtime import Actor, Request, main
from actors.guard.catalog import CatalogPlan, against_catalog, plan_resolution
from actors.guard.classifier import classify
from actors.guard.tree import Rules
from actors.guard.verdict import verdict_for
from protocol.boot import Boot
from protocol.messages import Body, Failure, GuardRequest, Mode, Resolution, ResolveRequest, Verdict


@dataclass
class GuardState:
    key: bytes
    ttl_s: float  # [safety] verdict_ttl_s: how long a signed verdict stays valid
    writable: frozenset[str]  # profiles with read_write = true: the only ones read-write may sign
    rules: Rules  # the [safety] options the text is judged under
    resolve_timeout_s: float = 30.0


@asynccontextmanager
async def open_state(boot: Boot) -> AsyncIterator[GuardState]:
    config = boot.load_config()
    writable = frozenset(name for name, p in config.profiles.items() if p.read_write)
    rules = Rules(
        allow_untrusted_languages=config.safety.allow_untrusted_languages,
        allow_sensitive_catalogs=config.safety.allow_sensitive_catalogs,
    )
    yield GuardState(bytes.fromhex(boot.key_hex), config.safety.verdict_ttl_s, writable, rules)


async def on_guard_request(state: GuardState, msg: GuardRequest, req: Request) -> Body:
    """Judge the text; for a profile, judge its reads against that database's catalog too and
    sign the verdict with the catalog's fingerprint (the executor runs it only while it holds)."""
    forced = msg.mode == "read-write" and msg.profile not in state.writable
    mode: Mode = "read-only" if forced else msg.mode
    rules = state.rules
    c = classify(msg.sql, rules)
    catalog, superuser = "", False
    plan = plan_resolution(c) if msg.profile else None
    if plan is not None:
        res = await _resolve(state, req, msg.profile, plan)
        if isinstance(res, Failure):
            return res
        if res.server_version and "json" in msg.sql.lower():
            rules = dataclasses.replace(rules, server_version=res.server_version)
            c = classify(msg.sql, rules)  # SQL/JSON as this server's grammar reads it
        c = against_catalog(c, plan, res, rules)
        catalog, superuser = res.fingerprint, res.superuser
    verdict = verdict_for(
        c,
        msg.sql,
        profile=msg.profile,
        mode=mode,
        preview=msg.preview,
        key=state.key,
        ttl_s=state.ttl_s,
        catalog=catalog,
    )
    verdict = msgspec.structs.replace(verdict, superuser=superuser)
    return _read_only_by_config(verdict, msg.profile) if forced else verdict


async def _resolve(
    state: GuardState, req: Request, profile: str, plan: CatalogPlan
) -> Resolution | Failure:
    ask = ResolveRequest(queries=plan.queries, closure=bool(plan.by_name))
    try:
        reply = await req.runtime.request(
            f"executor:{profile}", ask, trace=req.header.trace, timeout=state.resolve_timeout_s
        )
    except trio.TooSlowError:
        reply = None
    if isinstance(reply, Resolution | Failure):
        return reply
    return Failure(
        code="guard.catalog_unavailable",
        message=f"The guard could not check the statement against profile '{profile}'.",
        why=(
            f"Its executor did not say within {state.resolve_timeout_s:.0f} s what the "
            "statement would run on that database, and a read is never judged blind."
        ),
        hint="Try again; `pgask doctor -p PROFILE` checks the connection.",
        retryable=True,
    )


def _read_only_by_config(verdict: Verdict, profile: str) -> Verdict:
    """Judged in read-only mode whatever was asked: the profile's config forbids writes, so
    no requester (the CLI's --mode, a script) can have a write signed for it."""
    if verdict.confirm != "refuse" or verdict.sql_class in ("forbidden", "invalid"):
        return verdict
    reason = (
        f"profile '{profile}' does not allow writes (read_write = false in its "
        f"configuration), so it runs in read-only mode"
    )
    return msgspec.structs.replace(verdict, reasons=[reason, *verdict.reasons])


ACTOR = Actor("guard", handlers={GuardRequest: on_guard_request}, open_state=open_state)

if __name__ == "__main__":
    main(ACTOR)
