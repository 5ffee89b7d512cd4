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


async def test_a_silent_connection_neither_hangs_nor_blocks_the_export(tmp_path):
    """Another local user connects to the TCP port first and says nothing (issue 17): the
    executor's connection is still accepted at once, and the silent one is dropped."""
    import socket

    async with copystream.listen(str(tmp_path), tcp=True) as (listener, address):
        token = copystream.new_token()
        host, _, port = address.removeprefix("tcp:").rpartition(":")
        silent = socket.create_connection((host, int(port)))
        try:

            def executor() -> None:
                with copystream.connect(address, token) as sock:
                    sock.sendall(b"payload")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.to_thread.run_sync, executor)
                # far below the silent peer's deadline: it does not hold the real one up
                with trio.fail_after(copystream.TOKEN_TIMEOUT_S / 2):
                    stream = await copystream.accept(listener, token)
                async with stream:
                    received = b""
                    while data := await stream.receive_some(100):
                        received += data
            assert received == b"payload"
            silent.settimeout(10)
            assert silent.recv(10) == b""  # dropped when accept returned
        finally:
            silent.close()


async def test_a_silent_connection_is_dropped_after_its_deadline(tmp_path):
    import socket

    async with copystream.listen(str(tmp_path), tcp=True) as (listener, address):
        host, _, port = address.removeprefix("tcp:").rpartition(":")
        with socket.create_connection((host, int(port))) as silent:
            with trio.move_on_after(1):  # accept waits on for a real peer; the silent one goes
                await copystream.accept(listener, copystream.new_token(), token_timeout_s=0.2)
            silent.settimeout(10)
            assert silent.recv(10) == b""  # closed by the exporter, not left hanging
