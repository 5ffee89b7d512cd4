"""The pure parts of `pgask mcp`: caps on results, binds, tokens, the client's name, the
question shown to the person (the rest runs for real in tests/integration/test_mcp.py)."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from protocol.config import McpConfig
from protocol.errors import ConfigError
from protocol.messages import Column, QueryDone, Signature, StatementVerdict, Verdict
from ui import mcp_server, mcp_tools
from ui.mcp_jobs import Ask, JobResult


def result(n: int, *, truncated: bool = False, width: int = 1) -> JobResult:
    r = JobResult()
    r.outcome = f"{n} rows"
    r.columns = [Column(name="v", type_oid=25, type_name="text")]
    r.rows = [["x" * width] for _ in range(n)]
    r.done = QueryDone(command=f"SELECT {n}", rows=n, elapsed_ms=1.0, truncated=truncated)
    return r


def test_rows_are_capped_by_count_and_bytes_with_the_true_count():
    out = mcp_tools.rows_json(result(20), 5, 10_000)
    assert (out["returned"], out["row_count"], out["truncated"]) == (5, 20, True)
    out = mcp_tools.rows_json(result(20), 100, 10_000)
    assert (out["returned"], out["truncated"], out["row_count_exact"]) == (20, False, True)
    out = mcp_tools.rows_json(result(20, width=1000), 100, 4096)
    assert out["returned"] == 4 and out["row_count"] == 20 and out["truncated"]
    out = mcp_tools.rows_json(result(1, width=100_000), 100, 4096)
    assert out["returned"] == 1  # one row always comes, however wide
    out = mcp_tools.rows_json(result(10_000, truncated=True), 100, 1 << 20)
    assert out["row_count_exact"] is False and out["truncated"]


def test_numbers_stay_exact():
    r = result(1)
    r.rows = [[Decimal("12345678901234567890.12")]]
    assert mcp_tools.rows_json(r, 1, 1000)["rows"] == [[Decimal("12345678901234567890.12")]]
    assert "12345678901234567890.12" in mcp_server_text(mcp_tools.rows_json(r, 1, 1000))


def mcp_server_text(data):
    from ui import format as fmt

    return fmt.json_dumps(data)


def test_caps():
    assert mcp_tools.caps(None) == mcp_tools.DEFAULT_ROWS
    assert mcp_tools.caps(0) == mcp_tools.DEFAULT_ROWS
    assert mcp_tools.caps(5) == 5
    assert mcp_tools.caps(10**9) == mcp_tools.MAX_ROWS


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_binds_need_nothing(host):
    mcp_server.check_bind(host, McpConfig(), "c.toml")


def test_remote_binds_need_allow_remote_then_tls(tmp_path):
    with pytest.raises(ConfigError, match="only loopback"):
        mcp_server.check_bind("0.0.0.0", McpConfig(), "c.toml")
    with pytest.raises(ConfigError, match="without TLS"):
        mcp_server.check_bind("10.0.0.5", McpConfig(allow_remote=True), "c.toml")
    with pytest.raises(ConfigError, match="is not a file"):
        mcp_server.check_bind(
            "10.0.0.5", McpConfig(allow_remote=True, tls_cert="/nope", tls_key="/nope"), "c.toml"
        )
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    mcp_server.check_bind(
        "10.0.0.5", McpConfig(allow_remote=True, tls_cert=str(cert), tls_key=str(key)), "c.toml"
    )


@pytest.mark.parametrize("text", ["8765", ":8765", "host:port", "127.0.0.1:70000"])
def test_listen_must_be_host_and_port(text):
    with pytest.raises(ConfigError, match="HOST:PORT"):
        mcp_server.parse_listen(text)


def test_listen_parses_ipv6():
    assert mcp_server.parse_listen("[::1]:8765") == ("::1", 8765)


def test_tokens(monkeypatch):
    token, generated = mcp_server.bearer_token(McpConfig())
    assert generated and len(token) >= 32
    assert mcp_server.bearer_token(McpConfig())[0] != token  # a new one each start
    monkeypatch.delenv("T_MCP", raising=False)
    with pytest.raises(ConfigError, match="is not set"):
        mcp_server.bearer_token(McpConfig(token_env="T_MCP"))
    monkeypatch.setenv("T_MCP", "short")
    with pytest.raises(ConfigError, match="fewer than 16"):
        mcp_server.bearer_token(McpConfig(token_env="T_MCP"))
    monkeypatch.setenv("T_MCP", "a-long-enough-token-value")
    assert mcp_server.bearer_token(McpConfig(token_env="T_MCP")) == (
        "a-long-enough-token-value",
        False,
    )


def ctx_with(name: str, version: str) -> SimpleNamespace:
    info = SimpleNamespace(name=name, version=version)
    return SimpleNamespace(session=SimpleNamespace(client_params=SimpleNamespace(client_info=info)))


def test_the_client_is_named_from_its_initialize():
    from ui.mcp_app import client_via

    assert client_via(ctx_with("claude-code", "2.1.0")) == "mcp:claude-code 2.1.0"
    assert client_via(ctx_with('evil\n"name"', "1")) == "mcp:evil__name_ 1"
    assert client_via(ctx_with("x" * 500, "1")) == "mcp:" + "x" * 80
    assert client_via(SimpleNamespace(session=SimpleNamespace(client_params=None))) == (
        "mcp:unknown-client"
    )


def test_the_person_sees_the_sql_its_class_tables_and_estimate():
    from ui.mcp_app import ask_text

    sig = Signature(
        sql_sha256="0",
        sql_class="destructive",
        profile="p",
        mode="read-write",
        expires_at=0,
        mac="",
    )
    verdict = Verdict(
        sql_class="destructive",
        confirm="typed",
        confirm_name="public.items",
        reasons=["DELETE without WHERE removes every row"],
        tables=["items"],
        statements=[StatementVerdict(index=0, kind="DELETE", sql_class="destructive")],
        signature=sig,
    )
    text = ask_text(
        Ask(verdict=verdict, sql="DELETE FROM items", estimate="about 20 rows"),
        "p",
        "mcp:cursor 1.0",
    )
    assert "cursor 1.0 asks pgask to run this on profile 'p'" in text
    assert "DELETE FROM items" in text and "Class: destructive" in text
    assert "Touches: items" in text and "Rows: about 20 rows" in text
    assert "Type 'public.items' to run it." in text
