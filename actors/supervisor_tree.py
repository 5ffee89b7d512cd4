"""The supervisor's tree: its spec (supervisor.toml: ChildSpec, TreeSpec, load_tree), the
children as processes (exec'd or forked), their restart budget, and how a child's failure is
described to whoever waited on it."""

from __future__ import annotations

import multiprocessing
import os
import time
import tomllib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec
import trio

from actors._forkserver import DEFAULT_TREE
from protocol.config import Config
from protocol.errors import ConfigError
from protocol.messages import (
    Failure,
)

# -- supervisor.toml ----------------------------------------------------------


# Requests that can carry the person's confirmation (a write, DDL, a migration, a restore).




class SupervisorSection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    strategy: Literal["one_for_one"] = "one_for_one"
    intensity: int = 3
    period_s: float = 30.0
    heartbeat_s: float = 5.0
    heartbeat_timeout_s: float = 20.0
    start_timeout_s: float = 15.0
    spawn: Literal["forkserver", "exec"] = "forkserver"
    preload: list[str] = msgspec.field(default_factory=lambda: ["actors._preload"])


# Actor modules that moved, old name -> new: a user's supervisor.toml written for an older
# pgask keeps working. The one place module names are translated.
MOVED: dict[str, str] = {
    "actors.guard_actor": "actors.guard.actor",
    "actors.executor": "actors.executor.actor",
}


class ChildSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    module: str
    restart: Literal["permanent", "transient", "temporary"] = "permanent"
    shutdown_s: float = 2.0
    for_each_profile: bool = False
    needs_key: bool = False

    def __post_init__(self) -> None:
        self.module = MOVED.get(self.module, self.module)


class TreeSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    supervisor: SupervisorSection = msgspec.field(default_factory=SupervisorSection)
    children: list[ChildSpec] = msgspec.field(default_factory=list)


def load_tree(path: Path | None = None) -> TreeSpec:
    if path is None:
        from protocol.config import default_config_path

        user = default_config_path().parent / "supervisor.toml"
        path = user if user.exists() else DEFAULT_TREE
    if not path.exists():
        return TreeSpec(children=_builtin_children())
    try:
        spec = msgspec.convert(tomllib.loads(path.read_text()), TreeSpec)
    except (tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(
            f"{path} is not a valid supervisor file.",
            why=str(exc),
            hint=f"Fix {path}, or delete it to use pgask's defaults.",
        ) from exc
    return spec


def _builtin_children() -> list[ChildSpec]:
    return [
        ChildSpec(id="guard", module="actors.guard.actor", needs_key=True),
        ChildSpec(id="planner", module="actors.planner"),
        ChildSpec(id="exporter", module="actors.exporter", shutdown_s=5),
        ChildSpec(
            id="executor",
            module="actors.executor.actor",
            for_each_profile=True,
            needs_key=True,
            shutdown_s=5,
        ),
    ]


def prune_logs(root: Path, *, keep: int, current: Path) -> None:
    """Keep the newest `keep` run folders under logs/ (names sort by time)."""
    import shutil

    runs = sorted(p for p in root.iterdir() if p.is_dir() and p != current)
    for old in runs[: max(0, len(runs) - (keep - 1))]:
        shutil.rmtree(old, ignore_errors=True)


class RestartBudget:
    """OTP restart intensity: at most `intensity` restarts within `period_s`."""

    def __init__(self, intensity: int, period_s: float) -> None:
        self.intensity, self.period_s = intensity, period_s
        self._times: deque[float] = deque()

    def allow(self, t: float) -> bool:
        """Record a crash at time t; False when that crash exceeds the budget."""
        while self._times and t - self._times[0] >= self.period_s:
            self._times.popleft()
        self._times.append(t)
        return len(self._times) <= self.intensity

    @property
    def restarts(self) -> int:
        return len(self._times)


class ChildProcess:
    """A running child, however it was spawned."""

    pid: int

    async def wait(self) -> int:
        raise NotImplementedError

    def alive(self) -> bool:
        raise NotImplementedError

    def signal(self, sig: int) -> None:
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass


class ExecChild(ChildProcess):
    def __init__(self, proc: trio.Process) -> None:
        self.proc, self.pid = proc, proc.pid

    async def wait(self) -> int:
        return await self.proc.wait()

    def alive(self) -> bool:
        return self.proc.poll() is None


class ForkedChild(ChildProcess):
    def __init__(self, proc: multiprocessing.process.BaseProcess) -> None:
        self.proc = proc
        self.pid = proc.pid or 0

    async def wait(self) -> int:
        await trio.lowlevel.wait_readable(self.proc.sentinel)
        self.proc.join(0)
        code = self.proc.exitcode
        return -1 if code is None else code

    def alive(self) -> bool:
        return self.proc.is_alive()


@dataclass
class Child:
    actor_id: str
    spec: ChildSpec
    budget: RestartBudget
    profile: str = ""
    incarnation: int = 0
    proc: ChildProcess | None = None
    state: Literal["starting", "running", "restarting", "disabled", "stopped"] = "starting"
    ready: trio.Event = field(default_factory=trio.Event)
    exited: trio.Event = field(default_factory=trio.Event)  # the current process is gone
    queue: list[list[bytes]] = field(default_factory=list)
    inflight: dict[str, tuple[bytes, str, str]] = field(
        default_factory=dict
    )  # id -> (src, trace, kind)
    last_seen: float = field(default_factory=time.monotonic)
    # "<actor>#<secret>", new per incarnation: only the process spawned knows it, so a peer
    # cannot take over a child's route by connecting with its name
    ident: bytes = b""
    restarts: int = 0
    stopping: bool = False


async def race(*fns: Callable[[], Awaitable[Any]]) -> Any:
    """The result of whichever of `fns` finishes first; the others are cancelled."""
    result: list[Any] = []
    async with trio.open_nursery() as nursery:

        async def run(fn: Callable[[], Awaitable[Any]]) -> None:
            result.append(await fn())
            nursery.cancel_scope.cancel()

        for fn in fns:
            nursery.start_soon(run, fn)
    return result[0]


def describe(actor_id: str) -> str:
    if actor_id.startswith("executor:"):
        return f"executor for '{actor_id.split(':', 1)[1]}'"
    return actor_id


def unknown_profile_kwargs(profile: str, config: Config) -> dict[str, str]:
    known = ", ".join(sorted(config.profiles)) or "none are configured"
    return {
        "message": f"There is no profile named '{profile}'.",
        "why": f"Known profiles: {known}.",
        "hint": f"Add [profiles.{profile}] to {config.source or 'your config file'}, or pass a postgresql:// URL.",
    }


def statement_interrupted(actor_id: str, disabled: bool) -> Failure:
    """What happened to a statement whose executor died under it, said truthfully: it had
    started on the server, and the server is made to end it."""
    profile = actor_id.split(":", 1)[1]
    return Failure(
        code="actor.restarted",
        message=f"The executor for '{profile}' stopped unexpectedly while your statement was "
        "running on the server"
        + (", and has been turned off." if disabled else "; it was restarted."),
        why="Its connection closed, so the server stops the statement (PostgreSQL 14+ checks "
        "every second) and the restarted executor ends any backend the old one left: a read "
        "was stopped, a write that had not committed was rolled back.",
        hint="If it was a write, `pgask audit` shows whether it committed before the executor "
        "stopped; otherwise run it again (F5 in the UI). Details: pgask logs",
        retryable=True,
    )


def unknown_profile(profile: str, config: Config) -> Failure:
    return Failure(code="config.unknown_profile", **unknown_profile_kwargs(profile, config))
