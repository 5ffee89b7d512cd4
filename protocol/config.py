"""pgask's configuration: one TOML file parsed against these structs (DESIGN §6).

Looked up in this order: `--config PATH`, `$PGASK_CONFIG`, then
`<platform config dir>/pgask/config.toml`. A `.env` in the working directory is
read first (python-dotenv), so `PGASK_*` and `OPENAI_*` variables can live there.
Passwords never need to be in the file: libpq conventions apply (PGPASSWORD,
~/.pgpass, service names), or `password_env` names a variable to read.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Literal, TypeVar

import msgspec

from protocol.errors import ConfigError

APP = "pgask"
T = TypeVar("T")


class ModelConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    base_url: str = ""
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 60.0
    max_retries: int = 2
    temperature: float = 0.0
    context_tokens: int = 4000


class SafetyConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    default_mode: Literal["read-only", "read-write"] = "read-only"
    preview: bool = False  # show reads before they run
    verdict_ttl_s: float = 300.0
    # CREATE FUNCTION in a language other than sql / plpgsql (C, plpython ...) is forbidden
    # unless this is set: the guard cannot read such a body, untrusted ones reach the OS
    allow_untrusted_languages: bool = False
    # reading pg_authid, pg_shadow, pg_hba_file_rules ... (credentials, server files) is refused
    # unless this is set
    allow_sensitive_catalogs: bool = False


class PrivacyConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    store_history: bool = True
    redact_literals: bool = True
    audit_full_sql: bool = False
    send_sample_values: bool = False
    redact_columns: list[str] = msgspec.field(default_factory=list)  # globs: "email", "*.ssn"


class AuditConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # "syslog": each record's seq and hash also go to the system log, out of a same-user
    # process's reach; `pgask audit verify` compares with it where it can read it back
    witness: Literal["", "syslog"] = ""


class McpConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`pgask mcp`: pgask's guard, confirmations and audit offered to other agents."""

    # streamable HTTP: the bearer token is read from this variable ("" = a new one per start,
    # printed once on stderr)
    token_env: str = ""
    # binding to an address other than loopback needs this and TLS (tls_cert, tls_key)
    allow_remote: bool = False
    tls_cert: str = ""
    tls_key: str = ""
    # "tui": a write an agent asks for, from a client that cannot ask its person (no MCP
    # elicitation), waits for approval in a running pgask TUI (`/approvals`); "" = refused
    approve: Literal["", "tui"] = ""


class HostConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # the per-user session host (ui/session_host.py) exits after this long without a client
    idle_exit_s: float = 900.0


class ProfileConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    dsn: str = ""
    host: str = ""
    port: int = 0
    user: str = ""
    dbname: str = ""
    sslmode: str = ""
    sslrootcert: str = ""
    service: str = ""
    password_env: str = ""  # name of an environment variable holding the password
    read_write: bool = False  # may this profile be switched to read-write at all
    statement_timeout_s: float = 30.0
    lock_timeout_s: float = 5.0
    connect_timeout_s: float = 10.0
    max_rows: int = 10_000
    export_timeout_s: float = 0.0  # statement_timeout for exports; 0 = none (exports may be long)
    migrations_dir: str = ""  # dbmate files go here; "" = <state dir>/migrations/<profile>
    concurrent_index_rows: int = 10_000  # from this many rows, indexes build CONCURRENTLY
    read_role: str = ""  # reads run under SET LOCAL ROLE read_role (a least-privilege role)


class Config(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    model: ModelConfig = msgspec.field(default_factory=ModelConfig)
    safety: SafetyConfig = msgspec.field(default_factory=SafetyConfig)
    privacy: PrivacyConfig = msgspec.field(default_factory=PrivacyConfig)
    audit: AuditConfig = msgspec.field(default_factory=AuditConfig)
    host: HostConfig = msgspec.field(default_factory=HostConfig)
    mcp: McpConfig = msgspec.field(default_factory=McpConfig)
    profiles: dict[str, ProfileConfig] = msgspec.field(default_factory=dict)
    source: str = ""  # the file this came from ("" = defaults only); not a TOML key


_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def default_config_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def state_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir(APP))


def load_config(path: str | os.PathLike[str] | None = None, *, read_dotenv: bool = True) -> Config:
    """Read the config file (or defaults when there is none) and apply env overrides."""
    if read_dotenv:
        from dotenv import load_dotenv

        load_dotenv(Path.cwd() / ".env", override=False)
    explicit = path is not None or bool(os.environ.get("PGASK_CONFIG"))
    file = Path(path or os.environ.get("PGASK_CONFIG") or default_config_path()).expanduser()
    if not file.exists():
        if explicit:
            raise ConfigError(
                f"The config file {file} does not exist.",
                hint="Create it with `pgask config init`, or point --config / PGASK_CONFIG at an existing file.",
                code="config.missing",
            )
        cfg = Config()
    else:
        try:
            data = file.read_bytes()
        except OSError as exc:  # a directory, unreadable, ...
            raise ConfigError(
                f"The config file {file} cannot be read: {exc.strerror or exc}.",
                why="--config and PGASK_CONFIG name a TOML file." if file.is_dir() else "",
                hint="Point --config / PGASK_CONFIG at a file (e.g. "
                f"{file / 'config.toml' if file.is_dir() else file}), or create one with `pgask config init`.",
                code="config.unreadable",
            ) from exc
        cfg = parse_config(data, str(file))
    _apply_env(cfg)
    return cfg


def parse_config(data: bytes, source: str) -> Config:
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{source} is not valid TOML.",
            why=str(exc),
            hint="Fix the line named above; `pgask config init --print` shows a valid example.",
        ) from exc
    profiles = raw.pop("profiles", {})
    cfg = _convert(raw, Config, "", source)
    if not isinstance(profiles, dict):
        raise ConfigError(f"{source}: profiles must be a table of [profiles.NAME] sections.")
    for name, section in profiles.items():  # one by one, so errors name the profile
        cfg.profiles[name] = _convert(section, ProfileConfig, f"profiles.{name}", source)
    for name in cfg.profiles:
        if not _PROFILE_NAME.match(name):
            raise ConfigError(
                f"{source}: the profile name [profiles.{name}] is not valid.",
                why="Profile names may use letters, digits, '_', '-' and '.', at most 64 characters.",
                hint=f"Rename [profiles.{name}] in {source}.",
            )
    cfg.source = source
    return cfg


def _convert(raw: object, type_: type[T], prefix: str, source: str) -> T:
    try:
        return msgspec.convert(raw, type_)
    except msgspec.ValidationError as exc:
        key = _key_of(exc, prefix)
        raise ConfigError(
            f"{source}: {key} is not valid.",
            why=str(exc).split(" - at ")[0],
            hint=f"Edit {key} in {source}; `pgask config init --print` shows every key with its type.",
        ) from exc


def _key_of(exc: msgspec.ValidationError, prefix: str) -> str:
    text = str(exc)
    key = ""
    if " - at `$." in text:
        key = text.split(" - at `$.", 1)[1].rstrip("`")
    elif m := re.search(r"unknown field `([^`]+)`", text):
        key = m.group(1)
    full = ".".join(p for p in (prefix, key) if p)
    return full or "the file"


def _apply_env(cfg: Config) -> None:
    if v := os.environ.get("PGASK_MODEL"):
        cfg.model.model = v
    if v := os.environ.get("PGASK_BASE_URL") or (
        not cfg.model.base_url and os.environ.get("OPENAI_BASE_URL")
    ):
        cfg.model.base_url = v


SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_NON_NEGATIVE = ("statement_timeout_s", "lock_timeout_s", "connect_timeout_s", "export_timeout_s")


def check_profile(name: str, pcfg: ProfileConfig, source: str = "") -> None:
    """Settings the driver would choke on (or read as something else: asyncpg wraps port 99999
    round to 34463), as a ConfigError naming the profile, the key and what to write instead."""
    where = f" in {source}" if source else ""
    fix = f"[profiles.{name}]{where}" if name else "the URL you passed"
    label = f"Profile '{name}'" if name else "The postgresql:// URL"

    def bad(what: str, why: str, hint: str) -> ConfigError:
        return ConfigError(f"{label}: {what}", why=why, hint=hint, code="config.invalid")

    port: int | None = pcfg.port or None
    if pcfg.dsn.startswith(("postgresql://", "postgres://")):
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(pcfg.dsn)
            parts.hostname  # noqa: B018 - parses the host part ("[::1" raises here)
        except ValueError as exc:
            raise bad(
                "the postgresql:// URL cannot be read." if name else "it cannot be read.",
                f"{exc} (the password, if any, is not shown).",
                "Write it as postgresql://USER@HOST:PORT/DBNAME (an IPv6 host in brackets: "
                "[::1]); " + (f"fix dsn under {fix}." if name else "fix the URL you passed."),
            ) from exc
        try:
            port = parts.port or port
        except ValueError:  # out of range, or not a number
            shown = parts.netloc.rpartition("@")[2].rpartition(":")[2]
            raise bad(
                f"port {shown} is not a TCP port.",
                "Ports run from 1 to 65535.",
                f"Fix the port in the URL ({fix}); PostgreSQL's default is 5432.",
            ) from None
        for item in parts.query.split("&"):
            key, _, value = item.partition("=")
            if key == "sslmode" and value not in SSLMODES:
                raise bad(
                    f"sslmode={value!r} in the URL is not a valid SSL mode.",
                    f"It must be one of {', '.join(SSLMODES)}.",
                    f"Fix the URL's sslmode under {fix}.",
                )
    if port is not None and not 1 <= port <= 65535:
        raise bad(
            f"port {port} is not a TCP port.",
            "Ports run from 1 to 65535.",
            f"Fix the port under {fix} (PostgreSQL's default is 5432).",
        )
    if pcfg.sslmode and pcfg.sslmode not in SSLMODES:
        raise bad(
            f"sslmode = {pcfg.sslmode!r} is not a valid SSL mode.",
            f"It must be one of {', '.join(SSLMODES)}.",
            f"Fix sslmode under {fix}.",
        )
    env_ssl = os.environ.get("PGSSLMODE", "")
    if env_ssl and env_ssl not in SSLMODES and not pcfg.sslmode:
        raise bad(
            f"the environment variable PGSSLMODE={env_ssl!r} is not a valid SSL mode.",
            f"It must be one of {', '.join(SSLMODES)}.",
            f"Unset PGSSLMODE or set it to a valid mode, or set sslmode under {fix}.",
        )
    for key in _NON_NEGATIVE:
        if getattr(pcfg, key) < 0:
            raise bad(
                f"{key} = {getattr(pcfg, key):g} is negative.",
                "A timeout is a number of seconds; 0 means none.",
                f"Set {key} to 0 or more under {fix}.",
            )


def starting_mode(cfg: Config, profile: str) -> Literal["read-only", "read-write"]:
    """Read-write only when [safety] default_mode asks for it and the profile allows it."""
    pcfg = cfg.profiles.get(profile)
    if cfg.safety.default_mode == "read-write" and pcfg is not None and pcfg.read_write:
        return "read-write"
    return "read-only"


# URL query options that pick another server, role or database than the URL's own parts
_IDENTITY_OPTIONS = (
    "host",
    "hostaddr",
    "port",
    "user",
    "dbname",
    "service",
    "options",
    "target_session_attrs",
    "sslmode",
    "passfile",
)


def url_profile_name(url: str) -> str:
    """A URL's profile name, `user@host:port/db`: everything that picks the server and the
    role is in it (libpq's defaults fill what the URL leaves out), so two URLs that differ
    in any of them are two profiles, never one profile reused for both."""
    import getpass
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    env = dict(os.environ)
    if service := query.get("service") or env.get("PGSERVICE"):  # what the service file says
        keys = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "dbname": "PGDATABASE"}
        env.update({keys[k]: v for k, v in service_params(service).items() if k in keys})
    try:
        port = str(parts.port or "")
    except ValueError:
        port = ""
    user = (
        unquote(parts.username or "") or query.get("user") or env.get("PGUSER") or getpass.getuser()
    )
    host = unquote(parts.hostname or "") or query.get("host") or env.get("PGHOST") or "local"
    port = port or query.get("port") or env.get("PGPORT") or "5432"
    db = unquote(parts.path.lstrip("/")) or query.get("dbname") or env.get("PGDATABASE") or user
    if host.startswith("/"):  # a socket directory
        host = host.rstrip("/").replace("/", "_") or "_"
    name = f"{user}@{host}:{port}/{db}"
    extra = sorted(
        (k, v)
        for k, v in query.items()
        if k in _IDENTITY_OPTIONS and k not in ("host", "port", "user", "dbname")
    )
    if extra:  # options that change the server or role: a short digest keeps them apart
        import hashlib

        name += "+" + hashlib.sha256(repr(extra).encode()).hexdigest()[:8]
    return re.sub(r"[^\w.@:/+-]", "_", name)[:120]


def settings_place(profile: str, source: str = "") -> str:
    """Where a profile's connection settings are changed, for a hint: its config section, or,
    for a profile made from a URL or the PG* variables (no section exists), those."""
    if _PROFILE_NAME.match(profile):
        return f"under [profiles.{profile}] in {source or 'your config file'}"
    return "in the URL, the PG* environment variables or the service file it came from"


def service_params(service: str) -> dict[str, str]:
    """A libpq service's settings, from PGSERVICEFILE or ~/.pg_service.conf ({} when absent)."""
    import configparser

    path = os.environ.get("PGSERVICEFILE") or os.path.expanduser("~/.pg_service.conf")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path)
    except (OSError, configparser.Error):
        return {}
    return dict(parser[service]) if parser.has_section(service) else {}


def profile_file_name(profile: str) -> str:
    """A profile's name as a file name (URL profiles contain '/')."""
    return re.sub(r"[/\\\x00]", "_", profile)


def resolve_profile(cfg: Config, name_or_url: str) -> tuple[str, ProfileConfig]:
    """A profile by name, or an ad-hoc profile for a postgresql:// URL."""
    if name_or_url.startswith(("postgresql://", "postgres://")):
        check_profile("", ProfileConfig(dsn=name_or_url))  # before anything parses it
        name = url_profile_name(name_or_url)
        # a URL typed by the person has no config to forbid writes; it still starts read-only
        profile = ProfileConfig(dsn=name_or_url, read_write=True)
        cfg.profiles.setdefault(name, profile)
        return name, cfg.profiles[name]
    if name_or_url in cfg.profiles:
        check_profile(name_or_url, cfg.profiles[name_or_url], cfg.source)
        return name_or_url, cfg.profiles[name_or_url]
    import difflib

    known = sorted(cfg.profiles)
    close = difflib.get_close_matches(name_or_url, known, n=1)
    raise ConfigError(
        f"There is no profile named '{name_or_url}'."
        + (f" Did you mean '{close[0]}'?" if close else ""),
        why=("Known profiles: " + ", ".join(known)) if known else "No profiles are configured.",
        hint=f"Add [profiles.{name_or_url}] to {cfg.source or default_config_path()}, or pass a postgresql:// URL.",
        code="config.unknown_profile",
    )


STARTER = """\
# pgask configuration. Every key is optional; the values shown are the defaults.
# Passwords never need to be here: libpq's PGPASSWORD, ~/.pgpass and service
# names work, or name an environment variable with password_env.

[model]
# Any OpenAI-compatible endpoint: OpenAI, Azure OpenAI, Ollama (http://localhost:11434/v1),
# vLLM, llama.cpp server, LM Studio. PGASK_MODEL / PGASK_BASE_URL / OPENAI_BASE_URL override.
# base_url = "https://api.openai.com/v1"
# model = "gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"   # the variable holding the key; the key is never stored
timeout_s = 60.0
max_retries = 2
temperature = 0.0
context_tokens = 4000            # schema context budget per question

[safety]
default_mode = "read-only"       # or "read-write" (only for profiles with read_write = true)
preview = false                  # show read queries before running them
verdict_ttl_s = 300.0
allow_untrusted_languages = false  # CREATE FUNCTION in C, plpython ... (bodies the guard cannot read)
allow_sensitive_catalogs = false   # reading pg_authid, pg_shadow, pg_hba_file_rules ...

[privacy]
store_history = true             # questions and SQL in the session file (never result rows)
redact_literals = true           # literals in stored SQL become $1, $2, ...
audit_full_sql = false
send_sample_values = false       # let the model see a few distinct column values
redact_columns = []              # e.g. ["email", "*.ssn", "customers.phone"]: masked on screen, never sent to the model

[audit]
witness = ""                     # "syslog": also send each record's hash to the system log

[host]
# pgask keeps its actors warm in a per-user session host between commands (PGASK_HOST=off or
# --no-host: one process tree per command instead); `pgask status` shows it, `pgask stop` ends it
idle_exit_s = 900.0              # the host exits after this many seconds without a client

[mcp]
# `pgask mcp`: other agents (Claude Desktop/Code, Cursor ...) use pgask's guard, confirmations
# and audit trail. Over HTTP a bearer token is required: a new one each start, or from here.
token_env = ""                   # e.g. "PGASK_MCP_TOKEN"
allow_remote = false             # listen beyond loopback (needs tls_cert and tls_key)
tls_cert = ""
tls_key = ""
approve = ""                     # "tui": writes from clients without elicitation wait in /approvals

# [profiles.local]
# dsn = "postgresql://me@localhost:5432/shop"
#
# [profiles.prod]
# host = "db.example.com"
# port = 5432
# user = "analyst"
# dbname = "warehouse"
# sslmode = "verify-full"
# sslrootcert = "~/.postgresql/root.crt"
# password_env = "PROD_PGPASSWORD"
# read_write = false
# statement_timeout_s = 30.0
# lock_timeout_s = 5.0
# connect_timeout_s = 10.0
# max_rows = 10000
# export_timeout_s = 0.0         # 0 = exports may run as long as they need
# migrations_dir = "db/migrations"  # dbmate files from `pgask migrate` (default: state dir)
# read_role = "reporting"        # every read runs under SET LOCAL ROLE reporting (least privilege)
# concurrent_index_rows = 10000  # at this size `pgask index create` builds CONCURRENTLY
"""
