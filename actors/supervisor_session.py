"""The session the supervisor owns: conversation turns, pins, panes.

Persisted as JSON under the user state directory after every change (temporary file,
fsync, rename), so it survives any actor restart and a pgask restart. It never holds
result rows; with `[privacy] store_history = false` turns stay in memory only.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from protocol.errors import PgaskError
from protocol.messages import (
    Body,
    Pane,
    SessionAddTurn,
    SessionClear,
    SessionPin,
    SessionSetPane,
    SessionState,
    SessionUnpin,
    Turn,
)

MAX_TURNS = 200


class _Saved(msgspec.Struct, kw_only=True):
    session: str
    turns: list[Turn] = []
    pins: list[str] = []
    panes: list[Pane] = []
    saved_at: float = 0.0


@dataclass
class SessionStore:
    id: str
    path: Path | None
    store_history: bool = True
    turns: list[Turn] = field(default_factory=list)
    pins: list[str] = field(default_factory=list)
    panes: list[Pane] = field(default_factory=list)

    @classmethod
    def open(
        cls, state_dir: Path | None, session: str | None = None, *, store_history: bool = True
    ) -> SessionStore:
        """Resume `session` (or the last one) from `state_dir`; a new one if none."""
        if state_dir is None:
            return cls(session or secrets.token_hex(6), None, store_history)
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = state_dir / "session.json"
        if path.exists():
            try:
                data = path.read_bytes()
            except OSError as exc:  # e.g. a directory where the file should be
                raise PgaskError(
                    f"pgask cannot read its session file {path}: {exc.strerror or exc}.",
                    why="It keeps the conversation and pins there between runs.",
                    hint=f"Move {path} out of the way (it is not pgask's), then run pgask again.",
                    code="session.unreadable",
                ) from exc
            try:
                saved = msgspec.json.decode(data, type=_Saved)
            except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
                path.replace(path.with_suffix(".corrupt.json"))  # keep it for inspection
            else:
                if session is None or session == saved.session:
                    return cls(
                        saved.session, path, store_history, saved.turns, saved.pins, saved.panes
                    )
        return cls(session or secrets.token_hex(6), path, store_history)

    def state(self) -> SessionState:
        return SessionState(
            session=self.id, turns=list(self.turns), pins=list(self.pins), panes=list(self.panes)
        )

    def apply(self, msg: Body) -> None:
        if isinstance(msg, SessionAddTurn):
            turn = msg.turn if msg.turn.at else msgspec.structs.replace(msg.turn, at=time.time())
            self.turns = [*self.turns, turn][-MAX_TURNS:]
        elif isinstance(msg, SessionPin):
            self.pins = [*self.pins, msg.text]
        elif isinstance(msg, SessionUnpin):
            if not 1 <= msg.index <= len(self.pins):
                raise PgaskError(
                    f"There is no pin number {msg.index}.",
                    why=(
                        f"There {'is 1 pin' if len(self.pins) == 1 else f'are {len(self.pins)} pins'}."
                        if self.pins
                        else "Nothing is pinned."
                    ),
                    hint="See the pins with /history; unpin with /unpin N.",
                    code="session.no_such_pin",
                )
            self.pins = self.pins[: msg.index - 1] + self.pins[msg.index :]
        elif isinstance(msg, SessionClear):
            self.turns = []
            if msg.pins:
                self.pins = []
        elif isinstance(msg, SessionSetPane):
            panes = list(self.panes)
            while len(panes) <= msg.index:
                panes.append(msg.pane)
            panes[msg.index] = msg.pane
            self.panes = panes
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        saved = _Saved(
            session=self.id,
            turns=self.turns if self.store_history else [],
            pins=self.pins,
            panes=self.panes,
            saved_at=time.time(),
        )
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, msgspec.json.encode(saved))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
