"""The audit chain: any edit, deletion, insertion or reordering is found and named."""

from __future__ import annotations

import json

import pytest

from protocol.audit import AuditLog, read_records, verify


@pytest.fixture
def trail(tmp_path):
    path = tmp_path / "audit" / "p.jsonl"
    log = AuditLog(path)
    for i in range(5):
        log.append({"type": "intent", "sql": f"SELECT ${i}", "class": "read"})
    log.close()
    return path


def test_intact_chain_verifies(trail):
    assert verify(trail) is None
    assert [r["seq"] for r in read_records(trail)] == [1, 2, 3, 4, 5]


def test_reopening_continues_the_chain(trail):
    log = AuditLog(trail)
    log.append({"type": "outcome", "intent": 5, "outcome": "ok"})
    log.close()
    assert verify(trail) is None


def _rewrite(path, lines):
    path.write_text("".join(line if line.endswith("\n") else line + "\n" for line in lines))


def test_edit_is_named(trail):
    lines = trail.read_text().splitlines()
    record = json.loads(lines[2])
    record["class"] = "destructive"
    lines[2] = json.dumps(record, sort_keys=True)
    _rewrite(trail, lines)
    broken = verify(trail)
    assert broken is not None and broken.line == 3 and broken.seq == 3 and "edited" in broken.why


def test_deletion_is_named(trail):
    lines = trail.read_text().splitlines()
    del lines[1]
    _rewrite(trail, lines)
    broken = verify(trail)
    assert broken is not None and broken.line == 2 and broken.seq == 3 and "removed" in broken.why


def test_reordering_is_named(trail):
    lines = trail.read_text().splitlines()
    lines[3], lines[4] = lines[4], lines[3]
    _rewrite(trail, lines)
    broken = verify(trail)
    assert broken is not None and broken.line == 4 and broken.seq == 5


def test_garbage_line_is_named(trail):
    with open(trail, "a") as f:
        f.write("not json\n")
    broken = verify(trail)
    assert broken is not None and broken.line == 6 and "not valid JSON" in broken.why


def test_dangling_intent_gets_an_interrupted_outcome(tmp_path):
    path = tmp_path / "a.jsonl"
    log = AuditLog(path)
    log.append(
        {"type": "intent", "sql": "DELETE FROM t WHERE id = $1", "class": "write"}, durable=True
    )
    log.close()
    again = AuditLog(path)
    assert again.close_dangling() == 1
    again.close()
    last = list(read_records(path))[-1]
    assert last["type"] == "outcome" and last["outcome"] == "interrupted" and last["intent"] == 1
    assert verify(path) is None
    assert AuditLog(path).dangling == []
