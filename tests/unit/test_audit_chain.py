"""The audit chain: any edit, deletion, insertion or reordering is found and named."""

from __future__ import annotations

import json

import pytest

from protocol.audit import AuditLog, read_records, record_hash, verify


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


# -- the head, the key, recovery (issue 17) ------------------------------------------------


def test_removing_the_last_records_is_found_by_the_head(trail):
    lines = trail.read_text().splitlines()
    _rewrite(trail, lines[:3])
    broken = verify(trail)
    assert broken is not None and broken.line == 4 and broken.seq == 4
    assert "last 2 record(s) were removed" in broken.why


def test_editing_and_recomputing_an_unkeyed_chain_is_found(trail):
    """Without the chain key, a rewritten record can only get a plain sha256: refused."""
    lines = [json.loads(line) for line in trail.read_text().splitlines()]
    prev = "0" * 64
    for record in lines:
        record["class"] = "read" if record["seq"] != 3 else "destructive"
        record.pop("k", None)
        record["prev"] = prev
        record["hash"] = record_hash(record)  # what someone without the key can compute
        prev = record["hash"]
    _rewrite(trail, [json.dumps(r, sort_keys=True) for r in lines])
    broken = verify(trail)
    assert broken is not None and broken.line == 1 and "not keyed" in broken.why


def test_the_key_and_head_are_private(trail):
    assert (trail.parent / ".chain-key").stat().st_mode & 0o777 == 0o600
    assert trail.with_suffix(".head").stat().st_mode & 0o777 == 0o600
    assert trail.stat().st_mode & 0o777 == 0o600


def test_torn_last_line_is_moved_aside_and_the_sequence_continues(trail):
    with open(trail, "ab") as f:
        f.write(b'{"seq": 6, "type": "intent", "sql": "DELETE FR')  # the write was cut short
    log = AuditLog(trail)
    assert any("torn" in p for p in log.problems)
    log.append({"type": "intent", "sql": "SELECT 2", "class": "read"})
    log.close()
    records = list(read_records(trail))
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5, 6, 7]
    assert records[5]["type"] == "repair" and "torn" in records[5]["note"]
    assert records[6]["sql"] == "SELECT 2"  # the next record is whole, not glued to the fragment
    assert b"DELETE FR" in trail.with_suffix(".torn").read_bytes()
    assert verify(trail) is None


def test_malformed_lines_do_not_stop_the_writer(trail):
    """`[1,2,3]` and an intent without `seq`: the writer opens, verify names the first."""
    with open(trail, "a") as f:
        f.write("[1,2,3]\n")
        f.write('{"type": "intent", "sql": "x"}\n')
    log = AuditLog(trail)
    assert [d["seq"] for d in log.dangling] == [1, 2, 3, 4, 5]  # the seq-less intent is skipped
    assert any("line 6" in p for p in log.problems)
    log.append({"type": "intent", "sql": "SELECT 3", "class": "read"})
    log.close()
    broken = verify(trail)
    assert broken is not None and broken.line == 6 and "not an object" in broken.why
    assert [r["seq"] for r in read_records(trail) if "seq" in r][-1] == 6


def test_a_truncation_stays_visible_after_the_writer_reopens(trail):
    _rewrite(trail, trail.read_text().splitlines()[:2])
    log = AuditLog(trail)  # the executor restarts: it must not bless the shorter file
    log.append({"type": "intent", "sql": "SELECT 4", "class": "read"})
    log.close()
    broken = verify(trail)
    assert broken is not None and broken.line == 3 and "3..5 are missing" in broken.why


def test_witness_disagreement_is_found(trail):
    records = list(read_records(trail))
    witness = {r["seq"]: r["hash"] for r in records}
    assert verify(trail, witness=witness) is None
    witness[7] = "f" * 64  # the system log saw a record the file no longer has
    broken = verify(trail, witness=witness)
    assert broken is not None and "witnessed record 7" in broken.why
