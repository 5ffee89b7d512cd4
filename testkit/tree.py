"""Start a real actor tree (supervisor + forked children + ipc sockets) inside a test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec

from actors.supervisor import Supervisor
from actors.supervisor_tree import SupervisorSection, TreeSpec, load_tree
from protocol import signing
from protocol.config import Config, ProfileConfig
from protocol.messages import Resolution, ResolveRequest, Signature
from protocol.transport import open_context
from ui.client import Client, open_client


def make_config(profiles: dict[str, str] | None = None) -> Config:
    return Config(profiles={name: ProfileConfig(dsn=dsn) for name, dsn in (profiles or {}).items()})


@asynccontextmanager
async def open_tree(
    tmp_path: Path,
    *,
    config: Config | None = None,
    intensity: int = 3,
    period_s: float = 30.0,
    spawn: str = "forkserver",
) -> AsyncIterator[tuple[Supervisor, Client]]:
    tree = load_tree()
    section = msgspec.structs.replace(
        tree.supervisor, intensity=intensity, period_s=period_s, spawn=spawn
    )
    tree = TreeSpec(supervisor=section, children=tree.children)
    sup = Supervisor(config or make_config(), tree, state_dir=tmp_path / "state")
    async with (
        sup.running(),
        open_context() as ctx,
        open_client(ctx, sup.endpoint, sup.session.id) as client,
    ):
        sup.trust(client.identity)  # the test stands where the host's command would
        yield sup, client


async def catalog_of(client: Client, profile: str = "p") -> str:
    """The safety fingerprint of `profile`'s database now: what the guard signs reads with."""
    reply = await client.request(f"executor:{profile}", ResolveRequest())
    assert isinstance(reply, Resolution), reply
    return reply.fingerprint


async def sign_read(sup: Supervisor, client: Client, sql: str, profile: str = "p") -> Signature:
    """Sign `sql` as a read like the guard would, against the database as it is now (tests that
    stand in for a guard that is right or wrong on purpose)."""
    catalog = await catalog_of(client, profile)
    return signing.sign(sup.key, sql, "read", profile, "read-only", catalog=catalog)


__all__ = ["SupervisorSection", "catalog_of", "make_config", "open_tree", "sign_read"]


def config_for(dsn: str, **kw: object) -> Config:
    """Profile "p" on `dsn`; it may be switched to read-write (tests of writes need that)."""
    kw.setdefault("read_write", True)
    return Config(profiles={"p": ProfileConfig(dsn=dsn, **kw)})  # type: ignore[arg-type]
