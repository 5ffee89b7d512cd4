"""The audit trail: append-only, hash-chained JSON Lines, one file per profile.

    <state dir>/audit/<profile>.jsonl

Each line is one record, a JSON object with `seq`, `prev` (the previous record's hash, or
64 zeros) and `hash` (sha256 of the record's canonical JSON without `hash`). Editing,
deleting, inserting or reordering a record breaks the chain at that record, and
`pgask audit verify` names it.

Records (field `type`):
  decision  what the person or the policy decided (auto-run read, confirmed, typed-confirmed,
            refused by policy, declined by the person)
  intent    a statement about to run; for writes and DDL it is on disk (fsync) before
            the statement runs
  outcome   how it ended (ok / error / cancelled / interrupted), rows, duration, error code

The executor of a profile is the only writer of that profile's file. On start it closes a
dangling intent (the process died between intent and outcome) with an `interrupted`
outcome, so a crash shows as "interrupted", never as nothing. No record ever holds
result rows; SQL is stored with its literals replaced by $n unless
`[privacy] audit_full_sql = true`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

GENESIS = "0" * 64
_encoder = msgspec.json.Encoder(order="sorted")


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(_encoder.encode(body)).hexdigest()


def audit_path(state_dir: str | os.PathLike[str], profile: str) -> Path:
    return Path(state_dir) / "audit" / f"{profile}.jsonl"


class AuditLog:
    """The single writer of one profile's audit file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.seq, self.prev, last = 0, GENESIS, None
        for record in read_records(path):
            last = record
        if last is not None:
            self.seq, self.prev = int(last.get("seq", 0)), str(last.get("hash", GENESIS))
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.dangling = _dangling_intents(path)

    def append(self, record: dict[str, Any], *, durable: bool = False) -> dict[str, Any]:
        self.seq += 1
        full = {
            "seq": self.seq,
            "ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            **record,
            "prev": self.prev,
        }
        full["hash"] = record_hash(full)
        os.write(self._fd, _encoder.encode(full) + b"\n")
        if durable:
            os.fsync(self._fd)
        self.prev = full["hash"]
        return full

    def close_dangling(self) -> int:
        """Give every intent without an outcome an `interrupted` outcome; how many."""
        for intent in self.dangling:
            self.append(
                {"type": "outcome", "intent": intent["seq"], "session": intent.get("session", ""),
                 "profile": intent.get("profile", ""), "outcome": "interrupted",
                 "note": "pgask stopped between the intent and the outcome; check the database for the effect"},
                durable=True,
            )  # fmt: skip
        count, self.dangling = len(self.dangling), []
        return count

    def close(self) -> None:
        os.close(self._fd)


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with open(path, "rb") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                yield msgspec.json.decode(line)
            except msgspec.DecodeError:
                yield {"_unreadable": line.decode("utf-8", "replace")}


def _dangling_intents(path: Path) -> list[dict[str, Any]]:
    open_intents: dict[int, dict[str, Any]] = {}
    for record in read_records(path):
        if record.get("type") == "intent":
            open_intents[int(record["seq"])] = record
        elif record.get("type") == "outcome":
            open_intents.pop(int(record.get("intent", -1)), None)
    return list(open_intents.values())


@dataclass
class Broken:
    line: int  # 1-based line number in the file
    seq: int | None
    why: str


def verify(path: Path) -> Broken | None:
    """None when the chain is intact, else the first record that breaks it."""
    prev, expected_seq = GENESIS, 1
    for line_no, record in enumerate(read_records(path), start=1):
        if "_unreadable" in record:
            return Broken(line_no, None, "the line is not valid JSON")
        seq = record.get("seq")
        if record.get("prev") != prev:
            return Broken(
                line_no,
                seq,
                "its `prev` does not match the record before it (a record was removed, inserted or reordered)",
            )
        if record.get("hash") != record_hash(record):
            return Broken(
                line_no, seq, "its content does not match its hash (the record was edited)"
            )
        if seq != expected_seq:
            return Broken(line_no, seq, f"its sequence number is {seq}, expected {expected_seq}")
        prev, expected_seq = record["hash"], expected_seq + 1
    return None
