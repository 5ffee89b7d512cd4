"""`pgask mcp` run_sql round trip for 20 rows, beside a direct `pgask sql` of the same query.

    python bench/bench_mcp.py [--calls 200] [--runs 7] [--dsn DSN]

Measured in one run, side by side:
  mcp stdio     one run_sql call from the MCP SDK's own client to a warm `pgask mcp` over stdio
                (JSON-RPC, the guard, the executor, the audit trail, the result as JSON)
  mcp http      the same over streamable HTTP (bearer token, SSE reply)
  bus           the same guard + query over pgask's own bus from a warm in-process client (what
                every front end pays before MCP is involved)
  pgask sql     the whole `pgask sql --format json` process, as a script would run it (its actor
                tree starts and stops every time)
Medians; the ratios say what MCP adds to the bus and what a warm server saves over a process
per query. Uses PGASK_TEST_DSN/--dsn, else a throwaway embedded server.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trio

from testkit.pg import run_sql, start_embedded_server

REPO = Path(__file__).resolve().parent.parent
QUERY = "SELECT id, name, price, added FROM bench_mcp ORDER BY id LIMIT 20"
PORT = 47431


def setup(dsn: str) -> None:
    run_sql(
        dsn,
        "DROP TABLE IF EXISTS bench_mcp; CREATE TABLE bench_mcp (id int PRIMARY KEY, "
        "name text, price numeric(10,2), added timestamptz); INSERT INTO bench_mcp SELECT g, "
        "'item ' || g, g * 1.5, now() FROM generate_series(1, 1000) g; ANALYZE bench_mcp",
    )


async def mcp_calls(config: Path, calls: int, transport: str) -> list[float]:
    import mcp_types as types
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    argv = ["-m", "ui.cli", "--config", str(config), "mcp", "-p", "b"]
    times: list[float] = []

    async def measure(client: Client) -> None:
        for i in range(calls + 5):
            start = time.perf_counter()
            result = await client.call_tool("run_sql", {"sql": QUERY})
            elapsed = time.perf_counter() - start
            assert '"returned":20' in result.content[0].text, result  # type: ignore[union-attr]
            if i >= 5:  # the first calls warm the executor's pool and caches
                times.append(elapsed)

    info = types.Implementation(name="bench", version="1")
    if transport == "stdio":
        params = StdioServerParameters(
            command=sys.executable, args=argv, env=dict(os.environ), cwd=str(REPO)
        )
        async with Client(params, mode="legacy", client_info=info) as client:
            await measure(client)
        return times
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    token = "bench-token-0123456789abcdef"
    env = {**os.environ, "PGASK_BENCH_MCP_TOKEN": token}
    proc = await trio.lowlevel.open_process(
        [sys.executable, *argv, "--transport", "http", "--listen", f"127.0.0.1:{PORT}"],
        cwd=str(REPO),
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        seen = b""
        with trio.fail_after(60):
            while b"serving MCP" not in seen:
                chunk = await proc.stderr.receive_some()  # type: ignore[union-attr]
                if not chunk:
                    raise SystemExit(f"pgask mcp did not start: {seen.decode()}")
                seen += chunk
        url = f"http://127.0.0.1:{PORT}/mcp"
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
            Client(
                streamable_http_client(url, http_client=http), mode="legacy", client_info=info
            ) as client,
        ):
            await measure(client)
    finally:
        proc.terminate()
        await proc.wait()
    return times


async def bus_calls(dsn: str, calls: int) -> list[float]:
    from protocol.messages import GuardRequest, QueryRequest, QueryRows
    from testkit.tree import make_config, open_tree

    times: list[float] = []
    with tempfile.TemporaryDirectory() as state:
        async with open_tree(Path(state), config=make_config({"b": dsn})) as (_sup, client):
            for i in range(calls + 5):
                start = time.perf_counter()
                verdict = await client.request("guard", GuardRequest(sql=QUERY, profile="b"))
                rows = 0
                request = QueryRequest(sql=QUERY, verdict=verdict.signature, max_rows=10_000)
                async for _h, body in client.stream("executor:b", request):
                    if isinstance(body, QueryRows):
                        rows += len(body.rows)
                assert rows == 20
                if i >= 5:
                    times.append(time.perf_counter() - start)
    return times


def pgask_sql_runs(config: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "ui.cli",
                "--config",
                str(config),
                "sql",
                QUERY,
                "-p",
                "b",
                "--format",
                "json",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        times.append(time.perf_counter() - start)
        assert done.returncode == 0 and done.stdout.count('"id"') == 20, done.stderr
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200, help="run_sql calls per transport")
    parser.add_argument("--runs", type=int, default=7, help="`pgask sql` processes")
    parser.add_argument("--dsn", default=os.environ.get("PGASK_TEST_DSN", ""))
    args = parser.parse_args()
    server = None
    dsn = args.dsn
    if not dsn:
        server = start_embedded_server(prefix="pgask-bench-mcp-")
        dsn = server.dsn
    try:
        setup(dsn)
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["XDG_STATE_HOME"] = str(Path(tmp) / "state")
            config = Path(tmp) / "config.toml"
            config.write_text(
                f'[mcp]\ntoken_env = "PGASK_BENCH_MCP_TOKEN"\n\n[profiles.b]\ndsn = "{dsn}"\n'
            )
            results = {
                "mcp stdio": trio.run(mcp_calls, config, args.calls, "stdio"),
                "mcp http": trio.run(mcp_calls, config, args.calls, "http"),
                "bus": trio.run(bus_calls, dsn, args.calls),
                "pgask sql": pgask_sql_runs(config, args.runs),
            }
    finally:
        if server is not None:
            server.destroy()
    med = {k: statistics.median(v) * 1000 for k, v in results.items()}
    print(f"run_sql, 20 rows ({QUERY!r})")
    for name, ms in med.items():
        print(f"  {name:<10} median {ms:9.2f} ms  ({len(results[name])} samples)")
    print(f"  mcp stdio / bus        {med['mcp stdio'] / med['bus']:.2f}x  (what MCP adds)")
    print(f"  mcp http  / bus        {med['mcp http'] / med['bus']:.2f}x")
    print(
        f"  mcp stdio / pgask sql  {med['mcp stdio'] / med['pgask sql']:.3f}x  "
        f"(a warm server against a process per query)"
    )


if __name__ == "__main__":
    main()
