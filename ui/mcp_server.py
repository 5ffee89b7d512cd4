"""`pgask mcp`: pgask's guard, confirmations and audit trail for other agents (MCP).

A front end of the one workflow, like the TUI and the headless commands: every tool call that
touches data is a job of ui/engine.py (through ui/mcp_jobs.py), so the guard, the mode rules,
the confirmations, the audit trail and the recorded turn are the same ones. This file is only
the command and the transports; ui/mcp_app.py is the MCP side, on the official SDK (`mcp`, MCPServer): the tools and their schemas, the one
resource, asking the person (MCP elicitation), who is asking (the client's `initialize` name,
into every audit record as `via`), and the transports:

    stdio            for desktop clients (Claude Desktop/Code, Cursor ...): one client
    streamable HTTP  loopback by default, a bearer token per start (or from [mcp] token_env);
                     another address only with [mcp] allow_remote = true and TLS

An agent can never confirm on its own behalf: no tool has a "confirm" argument; a statement
that needs confirming runs only after its person answers an elicitation the client shows
them. A client without elicitation gets a refusal that says so.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import json
import os
import secrets
import sys
from typing import Any

import trio

from protocol.config import Config, McpConfig, load_config
from protocol.errors import ConfigError

# -- transports ------------------------------------------------------------------------------

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise ConfigError(
            f"--listen {text!r} is not HOST:PORT.",
            hint="For example --listen 127.0.0.1:8765 (loopback; the default host).",
            code="usage.listen",
        )
    return host.strip("[]"), int(port)


def check_bind(host: str, mcp: McpConfig, source: str) -> None:
    """Loopback, or allow_remote with TLS; else a ConfigError that says what to set."""
    if is_loopback(host):
        return
    where = source or "the config file"
    if not mcp.allow_remote:
        raise ConfigError(
            f"pgask mcp will not listen on {host}: only loopback addresses unless you allow it.",
            why="Anyone who can reach the port could ask for your database with the token.",
            hint=f"Listen on 127.0.0.1, or set allow_remote = true with tls_cert and tls_key "
            f"under [mcp] in {where}.",
            code="config.mcp_remote",
        )
    if not (mcp.tls_cert and mcp.tls_key):
        raise ConfigError(
            f"pgask mcp will not listen on {host} without TLS.",
            why="The bearer token and the results would cross the network in clear text.",
            hint=f"Set tls_cert and tls_key (PEM files) under [mcp] in {where}.",
            code="config.mcp_tls",
        )
    for key in ("tls_cert", "tls_key"):
        path = os.path.expanduser(getattr(mcp, key))
        if not os.path.isfile(path):
            raise ConfigError(
                f"[mcp] {key} = {path!r} is not a file.",
                hint=f"Point {key} under [mcp] in {where} at a PEM file.",
                code="config.mcp_tls",
            )


def bearer_token(mcp: McpConfig) -> tuple[str, bool]:
    """(token, generated): from [mcp] token_env, else a new one for this start."""
    if mcp.token_env:
        token = os.environ.get(mcp.token_env, "")
        if len(token) < 16:
            raise ConfigError(
                f"[mcp] token_env names {mcp.token_env}, which "
                + ("is not set." if not token else "holds fewer than 16 characters."),
                hint=f"Set {mcp.token_env} to a long random value (e.g. `openssl rand -hex 32`), "
                "or remove token_env to get a new token each start.",
                code="config.mcp_token",
            )
        return token, False
    return secrets.token_urlsafe(32), True


class BearerGate:
    """ASGI: every HTTP request must carry `Authorization: Bearer <token>`; else 401."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            got = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(got, self.expected):
                await unauthorized(send)
                return
            if scope.get("method") == "POST":
                await CancelOnDisconnect(self.app, scope).run(receive, send)
                return
        await self.app(scope, receive, send)


async def unauthorized(send: Any) -> None:
    body = (
        b'{"error": "unauthorized", "message": "pgask mcp needs '
        b'Authorization: Bearer <the token printed when it started>"}'
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"www-authenticate", b'Bearer realm="pgask"'),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class CancelOnDisconnect:
    """A client that goes away mid-call (its connection closed before the answer, without
    cancelling or ending its session) has the call cancelled: the SDK is handed the
    `notifications/cancelled` the client would have sent, so its own cancel path runs (and
    with it the job's QueryCancel at the server)."""

    def __init__(self, app: Any, scope: Any) -> None:
        self.app, self.scope = app, scope
        self.answered = False

    async def run(self, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        calls = request_ids(body)
        gone = trio.Event()
        replayed = False

        async def app_receive() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def app_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.answered = True
            await send(message)

        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                gone.set()
                if calls and not self.answered:
                    with trio.CancelScope(shield=True), trio.move_on_after(5):
                        await self.cancel(calls)

            nursery.start_soon(watch)
            await self.app(self.scope, app_receive, app_send)
            nursery.cancel_scope.cancel()

    async def cancel(self, calls: list[Any]) -> None:
        keep = (b"authorization", b"mcp-session-id", b"mcp-protocol-version", b"host")
        headers = [(k, v) for k, v in self.scope.get("headers") or [] if k in keep]
        headers += [
            (b"content-type", b"application/json"),
            (b"accept", b"application/json, text/event-stream"),
        ]
        for request_id in calls:
            note = {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": request_id, "reason": "the client went away"},
            }
            receive = replay(json.dumps(note).encode())

            async def discard(_message: dict[str, Any]) -> None:
                pass

            scope = {**self.scope, "headers": headers}
            with trio.move_on_after(2):
                await self.app(scope, receive, discard)


def replay(body: bytes) -> Any:
    """An ASGI `receive` that gives `body` once, then waits (the connection stays open)."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    return receive


def request_ids(body: bytes) -> list[Any]:
    """The ids of the requests a POSTed JSON-RPC body carries (a message or a batch)."""
    try:
        data = json.loads(body)
    except ValueError:
        return []
    items = data if isinstance(data, list) else [data]
    return [m["id"] for m in items if isinstance(m, dict) and "id" in m and "method" in m]


async def serve_http(
    app: Any, host: str, port: int, token: str, generated: bool, mcp: McpConfig
) -> None:
    from hypercorn.config import Config as HyperConfig
    from hypercorn.trio import serve
    from mcp.server.transport_security import TransportSecuritySettings

    remote = not is_loopback(host)
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False) if remote else None
    asgi = BearerGate(
        app.streamable_http_app(
            host="127.0.0.1" if not remote else host, transport_security=security
        ),
        token,
    )
    hc = HyperConfig()
    hc.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    hc.accesslog = None
    hc.errorlog = None
    hc.graceful_timeout = 2
    if remote:
        hc.certfile = os.path.expanduser(mcp.tls_cert)
        hc.keyfile = os.path.expanduser(mcp.tls_key)
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(serve, asgi, hc)
        url = (binds[0] if binds else f"http://{host}:{port}") + "/mcp"
        print(f"pgask mcp: serving MCP (streamable HTTP) on {url}", file=sys.stderr, flush=True)
        if generated:
            print(
                f"pgask mcp: bearer token (this start only): {token}", file=sys.stderr, flush=True
            )


# -- the command -----------------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    mcp = sub.add_parser(
        "mcp",
        help="serve pgask's guard, confirmations and audit to other agents (MCP)",
        description="An MCP server for agents and chat clients (Claude Desktop/Code, Cursor, "
        "Zed, VS Code): tools to list, describe, check and run SQL and to ask in plain words, "
        "all through pgask's guard, its confirmations (the client asks its person) and its "
        "audit trail, which names the client.",
    )
    mcp.add_argument(
        "-p",
        "--profile",
        action="append",
        default=[],
        help="serve this profile or postgresql:// URL (repeat; default: every configured profile)",
    )
    mcp.add_argument(
        "--transport",
        choices=["stdio", "http"],
        default="stdio",
        help="stdio (default; desktop clients start pgask) or streamable HTTP",
    )
    mcp.add_argument(
        "--listen",
        default="127.0.0.1:8765",
        metavar="HOST:PORT",
        help="with --transport http (default 127.0.0.1:8765)",
    )


def cmd_mcp(args: argparse.Namespace) -> int:
    from ui.headless import default_profile
    from ui.host import add_demo_profile, run_with_tree

    config: Config = load_config(args.config)
    add_demo_profile(config, list(args.profile))
    profiles = list(args.profile) or sorted(config.profiles) or [default_profile(config, None)]
    token, generated = "", False
    host, port = "", 0
    if args.transport == "http":
        host, port = parse_listen(args.listen)
        check_bind(host, config.mcp, config.source)
        token, generated = bearer_token(config.mcp)

    async def serve(sup: Any, client: Any, *names: str) -> int:
        async with trio.open_nursery() as jobs:
            from ui import mcp_tools as tools
            from ui.mcp_app import build_server

            served = tools.Served(
                client=client, config=sup.config, profiles=list(names), nursery=jobs
            )
            app = build_server(served)
            if args.transport == "stdio":
                await app.run_stdio_async()
            else:
                await serve_http(app, host, port, token, generated, sup.config.mcp)
            jobs.cancel_scope.cancel()
        return 0

    return run_with_tree(config, profiles, serve)
