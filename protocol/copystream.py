"""The bytes of an export, from the executor's COPY straight to the exporter.

COPY output is pgask's one bulk flow, and it needs no framing. Carried as ~1 MiB msgpack
messages through the supervisor, it cost the three processes more CPU than the server
spends formatting the rows, which on two cores made the client the limit
(bench/bench_export.py). So the exporter listens on a socket of its own: a unix socket in
the 0700 run directory, or loopback TCP where ipc is unavailable. The executor connects
and presents the request's one-time token, then writes the bytes. The kernel's socket
buffers are the flow control. Control stays on the bus: query.copy carries the address
and the token, and query.copy.done the byte count that the exporter checks.
"""

from __future__ import annotations

import hmac
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

TOKEN_BYTES = 16
SOCKET_BUFFER_BYTES = 4 * 1024 * 1024  # asked for; the kernel may grant less


def new_token() -> bytes:
    return secrets.token_bytes(TOKEN_BYTES)


@asynccontextmanager
async def listen(run_dir: str, *, tcp: bool) -> AsyncIterator[tuple[trio.SocketListener, str]]:
    """A listener for one export's stream and the address the executor connects to:
    `unix:<path>` in `run_dir`, or `tcp:127.0.0.1:<port>` when `tcp` (the bus is on TCP
    because ipc is unavailable). The socket file is removed on exit."""
    path: Path | None = None
    if tcp or not run_dir:
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        await sock.bind(("127.0.0.1", 0))
        address = f"tcp:127.0.0.1:{sock.getsockname()[1]}"
    else:
        path = Path(run_dir) / f"copy-{secrets.token_hex(6)}.sock"
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await sock.bind(str(path))
        address = f"unix:{path}"
    sock.listen(4)
    listener = trio.SocketListener(sock)
    try:
        yield listener, address
    finally:
        await listener.aclose()
        if path is not None:
            path.unlink(missing_ok=True)


TOKEN_TIMEOUT_S = 5.0  # a peer that connects and stays silent is dropped after this


async def accept(
    listener: trio.SocketListener, token: bytes, *, token_timeout_s: float = TOKEN_TIMEOUT_S
) -> trio.SocketStream:
    """The first connection that presents `token`; others are dropped. Each connection is
    checked in its own task with a deadline, so a silent one (another local user on the TCP
    port) can neither hang the export nor hold the real executor in the queue."""
    winner: list[trio.SocketStream] = []
    async with trio.open_nursery() as nursery:

        async def check(stream: trio.SocketStream) -> None:
            try:
                presented = b""
                with trio.move_on_after(token_timeout_s):
                    while len(presented) < TOKEN_BYTES:
                        data = await stream.receive_some(TOKEN_BYTES - len(presented))
                        if not data:
                            break
                        presented += data
                if not winner and hmac.compare_digest(presented, token):
                    stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER_BYTES)
                    winner.append(stream)
                    nursery.cancel_scope.cancel()
            finally:
                if not winner or winner[0] is not stream:
                    await trio.aclose_forcefully(stream)

        async def accept_all() -> None:
            while True:
                nursery.start_soon(check, await listener.accept())

        nursery.start_soon(accept_all)
    return winner[0]


def connect(address: str, token: bytes, timeout_s: float = 10.0) -> socket.socket:
    """Blocking (the executor's COPY thread): a connected socket that has sent `token`."""
    kind, _, where = address.partition(":")
    if kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: str | tuple[str, int] = where
    elif kind == "tcp":
        host, _, port = where.rpartition(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        target = (host, int(port))
    else:
        raise ValueError(f"not an export stream address: {address!r}")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER_BYTES)
        sock.settimeout(timeout_s)
        sock.connect(target)
        sock.settimeout(None)  # from here a slow exporter blocks the COPY, and so the server
        sock.sendall(token)
    except BaseException:
        sock.close()
        raise
    return sock
