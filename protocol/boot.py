"""What a process needs at start, handed over by the supervisor (PGASK_BOOT or pickled)."""

from __future__ import annotations

from typing import Literal

import msgspec

from protocol.config import Config


class Boot(msgspec.Struct, kw_only=True):
    """An actor's start record."""

    actor: str
    identity: str = ""  # the secret bus identity the supervisor gave this incarnation
    incarnation: int = 1
    endpoint: str
    run_dir: str = ""
    log_dir: str = ""
    key_hex: str = ""  # verdict HMAC key: guard and executors only
    session: str = ""
    config: bytes = b""  # msgpack of protocol.config.Config
    watch: Literal["stdin", "sentinel", "none"] = "none"
    state_dir: str = ""  # the user state directory (audit trail, history)

    def load_config(self) -> Config:
        return msgspec.msgpack.decode(self.config, type=Config) if self.config else Config()


class UiBoot(msgspec.Struct, kw_only=True):
    """The terminal UI's start record (the UI is a client of the tree, not a supervised actor)."""

    endpoint: str
    session: str
    run_dir: str
    log_dir: str
    config: bytes  # msgpack of protocol.config.Config
    profiles: list[str]  # one per pane at start
    model_label: str = ""  # what the status bar shows, e.g. "gpt-4o-mini" or "offline"
    state_dir: str = ""  # where history files live
    welcome: str = ""  # shown in the conversation at start (e.g. how to configure a model)
    # the UI's bus identity: unguessable, and trusted by the supervisor as the session's owner
    # (the only client besides the host's own whose requests may carry a confirmation)
    identity: str = "ui"
    # a session host's lease, open in the UI's process: it ends when the host does (-1: none;
    # then the supervisor is this process's parent, watched with getppid)
    lease_fd: int = -1

    def load_config(self) -> Config:
        return msgspec.msgpack.decode(self.config, type=Config)
