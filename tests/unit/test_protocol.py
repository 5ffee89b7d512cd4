"""The wire: every message round-trips, values stay exact, bad input is refused clearly."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import uuid
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import codec, messages, signing
from protocol.envelope import Header
from protocol.errors import ProtocolError
from protocol.messages import KINDS, Message
from protocol.values import Interval, Json, PgText, Range, ext_hook, to_wire

GOLDEN = Path(__file__).parent.parent / "fixtures" / "golden" / "protocol.schema.json"

SIG = messages.Signature(
    sql_sha256="ab", sql_class="read", profile="p", mode="read-only", expires_at=1.5, mac="cd"
)
EXAMPLES: list[messages.Body] = [
    messages.Failure(
        code="db.auth_failed", message="m", hint="h", why="w", retryable=True, detail="d"
    ),
    messages.Ready(actor="guard", pid=1, incarnation=2),
    messages.Ping(hold_ms=5, payload=b"\x00\x01"),
    messages.Pong(actor="guard", pid=1, incarnation=2),
    messages.Stop(),
    messages.ActorExited(actor="executor:p", exit_code=-9, restarted=True),
    messages.ActorsRequest(profiles=["p"]),
    messages.ActorsStatus(
        actors=[messages.ActorInfo(actor="a", pid=1, incarnation=1, state="running", rtt_ms=0.5)]
    ),
    messages.ConfigReload(),
    messages.ConnectPassword(password="pw"),
    messages.ConfigReloaded(config=b"\x80", source="/c.toml", added=["perf"], changed=["p"]),
    messages.SessionState(
        session="s",
        turns=[messages.Turn(question="q")],
        pins=["x"],
        panes=[messages.Pane(profile="p")],
    ),
    messages.SessionGet(),
    messages.SessionAddTurn(turn=messages.Turn(question="q", sql="SELECT 1")),
    messages.SessionPin(text="t"),
    messages.SessionUnpin(index=1),
    messages.SessionClear(pins=True),
    messages.SessionSetPane(index=1, pane=messages.Pane(profile="p", mode="read-write")),
    messages.GuardRequest(sql="SELECT 1", profile="p"),
    messages.ContextRequest(
        question="q", profile="p", tokens=500, recent=[messages.Turn(question="r")]
    ),
    messages.SchemaContextText(
        text="t", tables=[messages.ContextTable(schema="s", name="n", columns=["c"])], tokens=3
    ),
    messages.ResolveRequest(queries=["SELECT * FROM v"], closure=True),
    messages.DoctorRequest(),
    messages.DoctorReport(
        role="reader",
        database="shop",
        server_version=150018,
        findings=[messages.DoctorFinding(check="superuser", value="no")],
    ),
    messages.Resolution(
        method="analyzer",
        fingerprint="f" * 32,
        server_version=150018,
        invoked=[
            [
                messages.Invoked(
                    kind="function", what="function public.lower(integer)", name="lower", nargs=1
                )
            ]
        ],
    ),
    messages.Verdict(
        sql_class="invalid",
        confirm="refuse",
        error=messages.SqlError(message="syntax", line=1, column=2),
        statements=[
            messages.StatementVerdict(index=0, kind="SELECT", sql_class="read", tables=["t"])
        ],
    ),
    messages.QueryRequest(sql="SELECT 1", verdict=SIG, via="mcp:claude-code 1.2"),
    messages.QueryColumns(columns=[messages.Column(name="n", type_oid=1700, type_name="numeric")]),
    messages.QueryDescribe(sql="select 1", verdict=SIG),
    messages.QueryRows(seq=0, rows=[[1, "a", None, decimal.Decimal("1.10")]]),
    messages.QueryDone(command="SELECT 1", rows=1, elapsed_ms=0.3, truncated=True),
    messages.QueryCancel(target="ui:1:4"),
    messages.QueryCancelled(target="ui:1:4"),
    messages.CatalogRequest(refresh=True),
    messages.Catalog(
        profile="p",
        database="shop",
        server_version=180006,
        fingerprint="f",
        tables=[
            messages.CatalogTable(
                schema="public",
                name="orders",
                est_rows=10,
                columns=[
                    messages.CatalogColumn(
                        name="status", type_name="order_status", enum_values=["new"]
                    )
                ],
                foreign_keys=[
                    messages.CatalogForeignKey(
                        name="fk",
                        columns=["c"],
                        ref_schema="public",
                        ref_table="customers",
                        ref_columns=["id"],
                    )
                ],
                indexes=[
                    messages.CatalogIndex(
                        name="i", definition="CREATE INDEX i ON orders (c)", columns=["c"]
                    )
                ],
            )
        ],
        functions=[
            messages.CatalogFunction(
                schema="public", name="f", arguments="", result="int", volatility="immutable"
            )
        ],
    ),
    messages.ExplainRequest(sql="SELECT 1", verdict=SIG, analyze=True),
    messages.ExplainPlan(plan="[]"),
    messages.ApprovalRequest(
        via="mcp:cursor 0.9",
        profile="p",
        sql="DELETE FROM t",
        sql_class="destructive",
        confirm="typed",
        confirm_name="t",
        reasons=["no WHERE"],
        tables=["t"],
        estimate="about 3 rows",
    ),
    messages.ApprovalAnswer(approved=True, typed="t"),
    messages.ApprovalWithdrawn(target="cli-1:1:7"),
    messages.AuditNote(
        decision="declined", sql_class="write", question="q", reasons=["r"], via="mcp:cursor 0.9"
    ),
    messages.CopyRequest(
        sql="COPY (SELECT 1) TO STDOUT",
        verdict=SIG,
        sink="unix:/tmp/pgask-1/copy-1.sock",
        token=b"0123456789abcdef",
        normalized="COPY (SELECT $1) TO STDOUT",
    ),
    messages.CopyDone(rows=1, bytes=5, elapsed_ms=1.0),
    messages.ExportRequest(
        profile="p", sql="SELECT 1", verdict=SIG, format="jsonl", path="/tmp/x.jsonl"
    ),
    messages.ExportProgress(rows=1, bytes=2, rows_per_s=3.0, elapsed_s=4.0),
    messages.Exported(path="/tmp/x.jsonl", rows=1, bytes=2, elapsed_ms=3.0),
    messages.ExportCancel(target="ui:1:9"),
    messages.PlanRequest(
        question="top 5 customers", profile="p", recent=[messages.Turn(question="q")]
    ),
    messages.Plan(sql="SELECT 1", assumptions=["a"], source="offline"),
    messages.Clarification(question="Which table?", options=["orders", "order_items"]),
    messages.PlannerNotice(text="retrying"),
    # -- dba ---
    messages.IndexCheckRequest(action="create", table="public.orders", columns=["created_at"]),
    messages.IndexCheck(
        action="create",
        sql="CREATE INDEX CONCURRENTLY orders_created_at_idx ON public.orders (created_at)",
        down_sql="DROP INDEX CONCURRENTLY public.orders_created_at_idx",
        concurrently=True,
        table_rows=10,
        warnings=["w"],
    ),
    messages.MigrationApply(statements=["ALTER TABLE t ADD COLUMN c int"], verdicts=[SIG]),
    messages.MigrationApplied(commands=["ALTER TABLE"], elapsed_ms=1.5),
    messages.BackupRequest(path="/tmp/x.dump", force=True),
    messages.DbaProgress(text="dumping t", objects=1, bytes=10, elapsed_s=0.5),
    messages.BackupDone(path="/tmp/x.dump", bytes=10, tables=1, elapsed_ms=2.0, tool="pg_dump"),
    messages.ArchiveRequest(path="/tmp/x.dump", target="copy"),
    messages.ArchiveInfo(
        path="/tmp/x.dump",
        database="shop",
        dumped_from="18.6",
        dumped_by="18.6",
        entries={"TABLE": 1},
        tables=["public.t"],
        problems=["p"],
    ),
    messages.RestoreRequest(path="/tmp/x.dump", target="copy", verdict=SIG, confirm_name="copy"),
    messages.Restored(database="copy", tables=1, elapsed_ms=3.0, warnings=["w"]),
]


def test_every_message_kind_has_an_example():
    assert {type(e) for e in EXAMPLES} == set(Message.__args__)
    assert all("." in k or k == "error" for k in KINDS)


@pytest.mark.parametrize("body", EXAMPLES, ids=lambda b: messages.kind_of(b))
def test_message_round_trips(body):
    body = _wire_rows(body)
    header = Header(id="ui:1:1", kind=messages.kind_of(body), src="ui", dst="guard")
    h2, b2 = codec.decode(codec.encode(header, body))
    assert h2 == header
    assert b2 == _unwire(body)


def _wire_rows(body):
    if isinstance(body, messages.QueryRows):
        return messages.QueryRows(seq=body.seq, rows=[to_wire(r) for r in body.rows])
    return body


def _unwire(body):
    if isinstance(body, messages.QueryRows):
        return messages.QueryRows(seq=0, rows=[[1, "a", None, decimal.Decimal("1.10")]])
    return body


def test_protocol_schema_matches_golden():
    """A protocol change shows up in review: regenerate with PGASK_REGEN_GOLDEN=1."""
    import os

    schema = msgspec.json.schema(Message)
    text = json.dumps(schema, indent=1, sort_keys=True) + "\n"
    if os.environ.get("PGASK_REGEN_GOLDEN") or not GOLDEN.exists():
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
    assert GOLDEN.read_text() == text, (
        "protocol changed: bump PROTOCOL_VERSION if needed, then PGASK_REGEN_GOLDEN=1"
    )


def test_version_mismatch_says_what_to_do():
    header = Header(v=99, id="x:1:1", kind="actor.ping", src="x", dst="y")
    frames = codec.encode(header, messages.Ping())
    with pytest.raises(ProtocolError, match="different installs") as info:
        codec.decode(frames)
    assert "Restart pgask" in info.value.hint
    assert info.value.header == header


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([b"garbage"], "protocol.bad_message"),
        ([b"\x91\x01", b""], "protocol.bad_message"),
    ],
)
def test_undecodable_frames_raise_protocol_error(frames, code):
    with pytest.raises(ProtocolError) as info:
        codec.decode(frames)
    assert info.value.code == code


def test_kind_must_match_body():
    header = Header(id="x:1:1", kind="actor.stop", src="x", dst="y")
    with pytest.raises(ProtocolError, match="said it was 'actor.stop'"):
        codec.decode_body(header, codec.encode_body(messages.Ping()))


def test_unknown_fields_are_refused():
    header = Header(id="x:1:1", kind="actor.ping", src="x", dst="y")
    frame = msgspec.msgpack.encode({"kind": "actor.ping", "hold_ms": 1, "rm_rf": True})
    with pytest.raises(ProtocolError, match="malformed 'actor.ping'"):
        codec.decode_body(header, frame)


# -- values ------------------------------------------------------------------

_dec = msgspec.msgpack.Decoder(ext_hook=ext_hook)
_enc = msgspec.msgpack.Encoder()


def roundtrip(value):
    return _dec.decode(_enc.encode(to_wire(value)))


@pytest.mark.parametrize(
    "value",
    [
        decimal.Decimal("123456789012345678901234567890.123456789012345678901"),
        decimal.Decimal("NaN"),
        decimal.Decimal("Infinity"),
        decimal.Decimal("-Infinity"),
        decimal.Decimal("-0.000"),
        dt.datetime(
            2024, 3, 31, 1, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))
        ),
        dt.datetime(1900, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2262, 4, 12, 0, 0),
        dt.date(1, 1, 1),
        dt.date(9999, 12, 31),
        dt.time(23, 59, 59, 999999),
        dt.time(12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-3))),
        Interval(months=14, days=-3, microseconds=-1),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        Json('{"n": 1.00000000000000000001, "s": "a\\\\b"}'),
        PgText("inet", "192.168.0.1/24"),
        PgText("timestamptz", "infinity"),
        Range(1, 10, "[)"),
        Range(None, dt.date(2024, 1, 1), "(]"),
        Range(empty=True),
        b"\x00\xff\x10",
        [[1, None], [3, 4]],
        [decimal.Decimal("1.5"), None],
        "",
        None,
    ],
    ids=repr,
)
def test_value_round_trips_exactly(value):
    back = roundtrip(value)
    assert type(back) is type(value)
    if isinstance(value, decimal.Decimal) and value.is_nan():
        assert back.is_nan()
        return
    assert back == value
    if isinstance(value, dt.datetime | dt.time) and value.tzinfo is not None:
        assert back.utcoffset() == value.utcoffset()
    if isinstance(value, decimal.Decimal):
        assert str(back) == str(value)


def test_floats_keep_nan_and_infinity():
    back = roundtrip([math.inf, -math.inf, math.nan, 0.1])
    assert back[:2] == [math.inf, -math.inf] and math.isnan(back[2]) and back[3] == 0.1


def test_unknown_python_type_is_refused():
    with pytest.raises(TypeError, match="losslessly"):
        to_wire(object())


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**63), max_value=2**63 - 1)
        | st.text()
        | st.binary()
        | st.decimals(allow_nan=False)
        | st.datetimes(timezones=st.just(dt.UTC))
        | st.datetimes()
        | st.dates()
        | st.times()
        | st.uuids(),
        lambda inner: st.lists(inner, max_size=4),
        max_leaves=20,
    )
)
def test_any_value_round_trips(value):
    assert roundtrip(value) == value


# -- signing -----------------------------------------------------------------


def test_signature_binds_sql_profile_and_expiry():
    key = b"k" * 32
    sig = signing.sign(key, "SELECT 1", "read", "prod", "read-only", now=1000.0)
    assert signing.check(key, "SELECT 1", sig, "prod", now=1001.0) is None
    assert "different SQL" in signing.check(key, "SELECT 2", sig, "prod", now=1001.0)
    assert "profile 'prod'" in signing.check(key, "SELECT 1", sig, "dev", now=1001.0)
    assert "expired" in signing.check(key, "SELECT 1", sig, "prod", now=10_000.0)
    assert "not issued by this run" in signing.check(b"x" * 32, "SELECT 1", sig, "prod", now=1001.0)
    forged = msgspec.structs.replace(sig, sql_class="destructive")
    assert "not issued by this run" in signing.check(key, "SELECT 1", forged, "prod", now=1001.0)
