"""The audit trail: append-only, hash-chained JSON Lines, one file per profile.

    <state dir>/audit/<profile>.jsonl    the records, one JSON object a line
    <state dir>/audit/<profile>.head     the head: last seq and hash, MAC'd (rewritten per append)
    <state dir>/audit/.chain-key         32 random bytes, 0600: keys the chain and the head
    <state dir>/audit/<profile>.torn     torn last lines moved aside by recovery (evidence)

Each line is one record with `seq`, `prev` (the previous record's hash, or 64 zeros) and
`hash`. Records with `"k": 1` are chained with HMAC-SHA256 under the chain key (records
written before the key existed keep an unkeyed sha256; the head names the first keyed seq,
so a keyed record cannot be downgraded). Editing, deleting, inserting or reordering a
record breaks the chain at that record; deleting the last records disagrees with the head;
editing and recomputing the chain needs the key. `pgask audit verify` names the record.

What this does not stop: a process of the same OS user can read the key and rewrite log,
head and key together. The optional witness (`[audit] witness = "syslog"`) sends every
record's seq and hash to the system log, which that process cannot rewrite; `verify`
compares with it where the system log can be read back (journalctl, /var/log/syslog).

Records (field `type`):
  decision  what the person or the policy decided (auto-run read, confirmed, typed-confirmed,
            refused by policy, declined by the person)
  intent    a statement about to run; for writes and DDL it is on disk (fsync) before
            the statement runs
  outcome   how it ended (ok / error / cancelled / interrupted), rows, duration, error code
  repair    recovery moved a torn last line aside, or found records missing at the end

A decision or intent asked for by another program carries `via` (e.g. "mcp:claude-code 1.2",
the MCP client's own name and version from its `initialize`); records without it were asked
for by the person at pgask's own front ends.

The executor of a profile is the only writer of that profile's file. On start it repairs a
torn last line (moved to `.torn`, the sequence continues), and closes a dangling intent
(the process died between intent and outcome) with an `interrupted` outcome, so a crash
shows as "interrupted", never as nothing. No record ever holds result rows; SQL is stored
with its literals replaced by $n unless `[privacy] audit_full_sql = true`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

GENESIS = "0" * 64
KEY_NAME = ".chain-key"
WITNESS_TAG = "pgask-audit"
_encoder = msgspec.json.Encoder(order="sorted")


def record_hash(record: dict[str, Any], key: bytes | None = None) -> str:
    """The record's chain hash: HMAC under `key` for keyed records ("k": 1), else sha256."""
    body = _encoder.encode({k: v for k, v in record.items() if k != "hash"})
    if record.get("k") == 1:
        if key is None:
            return ""  # cannot be checked without the key
        return hmac.new(key, body, hashlib.sha256).hexdigest()
    return hashlib.sha256(body).hexdigest()


def audit_path(state_dir: str | os.PathLike[str], profile: str) -> Path:
    return Path(state_dir) / "audit" / f"{profile}.jsonl"


def head_path(path: Path) -> Path:
    return path.with_suffix(".head")


def load_key(folder: Path) -> bytes | None:
    try:
        return (folder / KEY_NAME).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None


def chain_key(folder: Path) -> bytes:
    """The per-user chain key, created 0600 on first use."""
    if (key := load_key(folder)) is not None:
        return key
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(folder / KEY_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another executor made it first
        return (folder / KEY_NAME).read_bytes()
    key = os.urandom(32)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        os.fsync(f.fileno())
    return key


def _head_mac(key: bytes, seq: int, last: str, keyed_from: int) -> str:
    return hmac.new(key, f"{seq}\x1f{last}\x1f{keyed_from}".encode(), hashlib.sha256).hexdigest()


def read_head(path: Path) -> dict[str, Any] | None:
    try:
        head = msgspec.json.decode(head_path(path).read_bytes())
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (msgspec.DecodeError, OSError):
        return {}
    return head if isinstance(head, dict) else {}


def _valid_head(head: dict[str, Any] | None, key: bytes | None) -> bool:
    if not head or key is None:
        return False
    try:
        mac = _head_mac(key, int(head["seq"]), str(head["hash"]), int(head["keyed_from"]))
    except (KeyError, TypeError, ValueError):
        return False
    return hmac.compare_digest(mac.encode(), str(head.get("mac", "")).encode())


@dataclass
class _Line:
    no: int  # 1-based
    record: dict[str, Any] | None  # None: not a JSON object
    raw: bytes
    json: bool = True  # False: not even valid JSON


def _lines(data: bytes) -> Iterator[_Line]:
    for no, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.strip()
        if not raw:
            continue
        try:
            value, valid = msgspec.json.decode(raw), True
        except (msgspec.DecodeError, RecursionError):
            value, valid = None, False
        yield _Line(no, value if isinstance(value, dict) else None, raw, valid)


def _chain_tip(record: dict[str, Any] | None) -> tuple[int, str] | None:
    """(seq, hash) when `record` can continue the chain."""
    if record is None:
        return None
    seq, digest = record.get("seq"), record.get("hash")
    if isinstance(seq, int) and not isinstance(seq, bool) and isinstance(digest, str):
        return seq, digest
    return None


class AuditLog:
    """The single writer of one profile's audit file."""

    def __init__(self, path: Path, *, witness: str = "") -> None:
        self.path = path
        self.witness = witness
        self.problems: list[str] = []  # what recovery found, for the executor's log
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.key = chain_key(path.parent)
        data = path.read_bytes() if path.exists() else b""
        torn = b""
        if data and not data.endswith(b"\n"):  # a write cut short: move the fragment aside
            cut = data.rfind(b"\n") + 1
            torn, data = data[cut:], data[:cut]
            with open(path.with_suffix(".torn"), "ab") as f:
                os.fchmod(f.fileno(), 0o600)
                f.write(torn + b"\n")
            os.truncate(path, cut)
        self.seq, self.prev = 0, GENESIS
        for line in _lines(data):
            if (tip := _chain_tip(line.record)) is not None:
                self.seq, self.prev = tip
            else:
                self.problems.append(f"{path}: line {line.no} is not an audit record")
        head = read_head(path)
        self.keyed_from = self.seq + 1  # records from here on are keyed
        missing, head_note = 0, ""
        if _valid_head(head, self.key):
            assert head is not None
            self.keyed_from = min(int(head["keyed_from"]), self.keyed_from)
            if int(head["seq"]) > self.seq:  # records were removed from the end
                missing, self.seq = int(head["seq"]) - self.seq, int(head["seq"])
            elif int(head["seq"]) == self.seq and head["hash"] != self.prev:
                self.problems.append(f"{path}: the last record is not the one its head names")
                head_note = (
                    "the last record before this one is not the one the head named (replaced)"
                )
        elif data.strip():  # keep the evidence: a note in the chain, not a silent new head
            what = "was missing" if head is None else "was not valid (edited, or the key changed)"
            self.problems.append(f"{head_path(path)} {what}")
            head_note = f"the head record {what}; records removed from the end before now cannot be ruled out"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if torn:
            self.problems.append(f"{path}: a torn last line ({len(torn)} bytes) was moved aside")
            self.append(
                {
                    "type": "repair",
                    "note": f"a torn last line ({len(torn)} bytes) was moved "
                    f"to {path.with_suffix('.torn').name}",
                },
                durable=True,
            )
        if missing:
            self.problems.append(f"{path}: {missing} record(s) at the end are missing")
            self.append(
                {
                    "type": "repair",
                    "note": f"{missing} record(s) before this one are missing "
                    "from the file (its head counted them)",
                },
                durable=True,
            )
        if head_note:
            self.append({"type": "repair", "note": head_note}, durable=True)
        self._write_head(durable=False)
        self.dangling = _dangling_intents(data)

    def append(self, record: dict[str, Any], *, durable: bool = False) -> dict[str, Any]:
        self.seq += 1
        full = {
            "seq": self.seq,
            "ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            **record,
            "k": 1,
            "prev": self.prev,
        }
        full["hash"] = record_hash(full, self.key)
        os.write(self._fd, _encoder.encode(full) + b"\n")
        if durable:
            os.fsync(self._fd)
        self.prev = full["hash"]
        self._write_head(durable=durable)
        if self.witness == "syslog":
            _witness_syslog(trail_id(self.key), self.path.stem, self.seq, self.prev)
        return full

    def _write_head(self, *, durable: bool) -> None:
        head = {
            "seq": self.seq,
            "hash": self.prev,
            "keyed_from": self.keyed_from,
            "mac": _head_mac(self.key, self.seq, self.prev, self.keyed_from),
        }
        tmp = head_path(self.path).with_suffix(f".head.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, _encoder.encode(head) + b"\n")
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, head_path(self.path))

    def close_dangling(self) -> int:
        """Give every intent without an outcome an `interrupted` outcome; how many."""
        for intent in self.dangling:
            self.append(
                {
                    "type": "outcome",
                    "intent": intent["seq"],
                    "session": intent.get("session", ""),
                    "profile": intent.get("profile", ""),
                    "outcome": "interrupted",
                    "note": "pgask stopped between the intent and the outcome; check the database for the effect",
                },
                durable=True,
            )
        count, self.dangling = len(self.dangling), []
        return count

    def close(self) -> None:
        os.close(self._fd)


def trail_id(key: bytes) -> str:
    """Names this state directory's trails in the system log without revealing the key (two
    users, or two test runs, may both have a profile `p`)."""
    return hashlib.sha256(b"pgask-trail\x1f" + key).hexdigest()[:16]


def _witness_syslog(trail: str, profile: str, seq: int, digest: str) -> None:
    import syslog

    syslog.openlog(WITNESS_TAG, 0, syslog.LOG_USER)
    syslog.syslog(syslog.LOG_INFO, f"trail={trail} profile={profile} seq={seq} hash={digest}")


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every line as a dict; a line that is not a JSON object as {"_unreadable": text}."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return
    for line in _lines(data):
        yield (
            line.record
            if line.record is not None
            else {"_unreadable": line.raw.decode("utf-8", "replace")}
        )


def _dangling_intents(data: bytes) -> list[dict[str, Any]]:
    open_intents: dict[int, dict[str, Any]] = {}
    for line in _lines(data):
        record = line.record
        if record is None or _chain_tip(record) is None:
            continue  # not a record (named by verify); nothing to close
        if record.get("type") == "intent":
            open_intents[record["seq"]] = record
        elif record.get("type") == "outcome" and isinstance(record.get("intent"), int):
            open_intents.pop(record["intent"], None)
    return list(open_intents.values())


@dataclass
class Broken:
    line: int  # 1-based line number in the file (one past the end: something is missing)
    seq: int | None
    why: str


@dataclass
class Checked:
    """What `verify` found: `broken` is None when the trail is intact."""

    records: int = 0
    broken: Broken | None = None
    notes: list[str] = field(default_factory=list)


def verify(path: Path, *, witness: dict[int, str] | None = None) -> Broken | None:
    """None when the chain is intact, else the first record that breaks it."""
    return check(path, witness=witness).broken


def check(path: Path, *, witness: dict[int, str] | None = None) -> Checked:
    """Walk the chain, then compare its end with the head record (and the witness, if any)."""
    result = Checked()
    key = load_key(path.parent)
    head = read_head(path)
    head_ok = _valid_head(head, key)
    keyed_from = int(head["keyed_from"]) if head_ok and head else None
    data = path.read_bytes() if path.exists() else b""
    prev, expected_seq, last_line = GENESIS, 1, 0
    hashes: dict[int, str] = {}
    for line in _lines(data):
        last_line = line.no
        result.records += 1
        record = line.record
        if record is None:
            why = "an object" if line.json else "valid JSON"
            result.broken = Broken(line.no, None, f"the line is not {why} (not an audit record)")
            return result
        seq = record.get("seq")
        why = _record_problem(record, prev, key, keyed_from, expected_seq, path)
        if why:
            result.broken = Broken(line.no, seq, why)
            return result
        hashes[seq] = prev = record["hash"]
        expected_seq += 1
    last = expected_seq - 1
    why, note = _end_problem(path, head, head_ok, last, hashes)
    if why:
        result.broken = Broken(last_line + 1, last + 1, why)
    if note:
        result.notes.append(note)
    if result.broken is None and witness is not None:
        result.broken = _witness_problem(witness, last, last_line, hashes)
    return result


def _record_problem(
    record: dict[str, Any],
    prev: str,
    key: bytes | None,
    keyed_from: int | None,
    expected_seq: int,
    path: Path,
) -> str:
    """Why `record` breaks the chain after `prev`, or ""."""
    seq = record.get("seq")
    if record.get("prev") != prev:
        return (
            "its `prev` does not match the record before it "
            "(a record was removed, inserted or reordered)"
        )
    keyed = record.get("k") == 1
    if keyed and key is None:
        return f"the chain key ({path.parent / KEY_NAME}) is missing"
    must_be_keyed = keyed_from is not None and isinstance(seq, int) and seq >= keyed_from
    if must_be_keyed and not keyed:
        return "it is not keyed although the head says it must be (the record was rewritten)"
    digest = record.get("hash")
    if not isinstance(digest, str) or not hmac.compare_digest(
        digest.encode(), record_hash(record, key).encode()
    ):
        return "its content does not match its hash (the record was edited)"
    if seq != expected_seq:
        why = f"its sequence number is {seq}, expected {expected_seq}"
        if isinstance(seq, int) and seq > expected_seq:
            why += f" (records {expected_seq}..{seq - 1} are missing)"
        return why
    return ""


def _end_problem(
    path: Path, head: dict[str, Any] | None, head_ok: bool, last: int, hashes: dict[int, str]
) -> tuple[str, str]:
    """(why the chain's end does not match its head record, or ""; a note, or "")."""
    if head is None:
        if last:
            return (
                f"its head record ({head_path(path).name}) is missing, so records removed "
                "from the end cannot be ruled out"
            ), ""
        return "", ""
    if not head_ok:
        return f"its head record ({head_path(path).name}) was edited or its key is missing", ""
    head_seq, head_hash = int(head["seq"]), str(head["hash"])
    if head_seq > last:
        return (
            f"the last {head_seq - last} record(s) were removed (the head says the "
            f"trail ends at seq {head_seq}, the file at {last})"
        ), ""
    if hashes.get(head_seq, GENESIS if head_seq == 0 else "") != head_hash:
        return f"record {head_seq} is not the one the head names (it was replaced)", ""
    if head_seq < last - 1:
        return f"records after seq {head_seq + 1} were not written by pgask (not in the head)", ""
    if head_seq == last - 1:
        return "", "the head lags one record (pgask stopped mid-append); fine"
    return "", ""


def _witness_problem(
    witness: dict[int, str], last: int, last_line: int, hashes: dict[int, str]
) -> Broken | None:
    for seq, digest in sorted(witness.items()):
        if seq > last:
            return Broken(
                last_line + 1,
                seq,
                f"the system log witnessed record {seq}, "
                f"which is not in the file (records were removed)",
            )
        if hashes.get(seq) != digest:
            return Broken(
                0,
                seq,
                f"record {seq} differs from the hash the system log witnessed (it was rewritten)",
            )
    return None


_WITNESS_LINE = re.compile(
    WITNESS_TAG + r"(?:\[\d+\])?: trail=([0-9a-f]{16}) profile=(\S+) seq=(\d+) hash=([0-9a-f]{64})"
)


def read_witness(trail: str) -> tuple[dict[str, dict[int, str]], str] | None:
    """What the system log witnessed for `trail`, per profile, and where it was read; None
    when the system log cannot be read back here."""
    sources: list[tuple[str, str]] = []
    if shutil.which("journalctl"):
        try:
            out = subprocess.run(
                ["journalctl", "-t", WITNESS_TAG, "-o", "short", "--no-pager", "-q"],
                capture_output=True,
                text=True,
                timeout=20,
            )
            if out.returncode == 0 and out.stdout.strip():
                sources.append(("journalctl", out.stdout))
        except (OSError, subprocess.TimeoutExpired):
            pass
    for name in ("/var/log/syslog", "/var/log/messages", "/var/log/user.log"):
        try:
            sources.append((name, Path(name).read_text(errors="replace")))
        except OSError:
            continue
    for where, text in sources:
        seen: dict[str, dict[int, str]] = {}
        for m in _WITNESS_LINE.finditer(text):
            if m.group(1) == trail:
                seen.setdefault(m.group(2), {})[int(m.group(3))] = m.group(4)
        return seen, where
    return None
