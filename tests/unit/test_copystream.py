"""The export byte stream: one-time token, unix and loopback TCP, EOF after the last byte."""

from __future__ import annotations

import pytest
import trio

from protocol import copystream


async def stream_through(
    run_dir: str, payload: bytes, *, tcp: bool = False
) -> tuple[str, bytes, list[bytes]]:
    """An intruder with a wrong token connects first, then the executor's side writes
    `payload`; returns the address, what the exporter's side received, and what the
    intruder got back."""
    async with copystream.listen(run_dir, tcp=tcp) as (listener, address):
        token = copystream.new_token()
        intruder_got: list[bytes] = []

        def intruder_then_executor() -> None:
            with copystream.connect(address, copystream.new_token()) as sock:
                intruder_got.append(sock.recv(100))  # b"": dropped without a byte
            with copystream.connect(address, token) as sock:
                sock.sendall(payload)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.to_thread.run_sync, intruder_then_executor)
            stream = await copystream.accept(listener, token)
            received = b""
            async with stream:
                while data := await stream.receive_some(65536):
                    received += data
    return address, received, intruder_got


async def test_unix_stream_accepts_only_the_token_and_ends_at_eof(tmp_path):
    payload = b"id,name\r\n" + b"1,x\n" * 200_000
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    address, received, intruder_got = await stream_through(str(run_dir), payload)
    assert address.startswith(f"unix:{run_dir}/copy-")
    assert received == payload
    assert intruder_got == [b""]
    assert list(run_dir.iterdir()) == []  # the socket file is gone


async def test_tcp_stream_where_ipc_is_unavailable(tmp_path):
    address, received, intruder_got = await stream_through(str(tmp_path), b"a,b\n" * 1000, tcp=True)
    assert address.startswith("tcp:127.0.0.1:") and int(address.rsplit(":", 1)[1]) > 0
    assert received == b"a,b\n" * 1000 and intruder_got == [b""]


def test_connect_refuses_an_unknown_address_and_reports_a_missing_listener(tmp_path):
    with pytest.raises(ValueError, match="not an export stream address"):
        copystream.connect("http://x", b"t" * 16)
    with pytest.raises((FileNotFoundError, ConnectionRefusedError)):
        copystream.connect(f"unix:{tmp_path}/gone.sock", b"t" * 16)
