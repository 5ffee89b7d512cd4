"""The actor tree for real: forked processes, ipc sockets, SIGKILL mid-request."""

from __future__ import annotations

import os
import signal
import stat
import time

import msgspec
import pytest
import trio
import zmq

from protocol import codec
from protocol.envelope import Header
from protocol.messages import (
    ActorExited,
    ActorsRequest,
    ActorsStatus,
    Failure,
    Ping,
    Pong,
    SessionAddTurn,
    SessionGet,
    SessionPin,
    SessionState,
    Turn,
)
from testkit.tree import make_config, open_tree

KINDS = ["guard", "planner", "exporter", "executor:demo"]


async def _pong(client, actor: str, timeout: float = 10.0) -> Pong:
    reply = await client.request(actor, Ping(), timeout=timeout)
    assert isinstance(reply, Pong), reply
    return reply


async def test_actors_list_pings_every_actor(tmp_path):
    async with open_tree(tmp_path, config=make_config({"demo": "postgresql:///x"})) as (
        _sup,
        client,
    ):
        status = await client.request("supervisor", ActorsRequest(profiles=["demo"]), timeout=30)
        assert isinstance(status, ActorsStatus)
        by_name = {a.actor: a for a in status.actors}
        assert set(by_name) == {"supervisor", *KINDS}
        for name in KINDS:
            assert by_name[name].state == "running"
            assert by_name[name].rtt_ms is not None
            assert by_name[name].pid not in (0, os.getpid())


async def test_run_dir_is_private(tmp_path):
    async with open_tree(tmp_path) as (sup, _client):
        assert stat.S_IMODE(os.stat(sup.run_dir).st_mode) == 0o700
        assert sup.endpoint.startswith("ipc://")


@pytest.mark.parametrize("actor", KINDS)
async def test_sigkill_mid_request_answers_restarted_and_recovers(tmp_path, actor):
    async with open_tree(tmp_path, config=make_config({"demo": "postgresql:///x"})) as (
        sup,
        client,
    ):
        await client.request("supervisor", SessionPin(text="keep me"), timeout=10)
        first = await _pong(client, actor, timeout=30)
        session_file = tmp_path / "state" / "session.json"
        before = session_file.read_bytes()

        async with trio.open_nursery() as nursery:
            outcome: list[object] = []

            async def held_request() -> None:
                outcome.append(await client.request(actor, Ping(hold_ms=60_000), timeout=20))

            nursery.start_soon(held_request)
            # wait until the supervisor has the request in flight for that actor
            with trio.fail_after(10):
                while not sup.children[actor].inflight:
                    await trio.sleep(0.005)
            killed_at = time.monotonic()
            os.kill(first.pid, signal.SIGKILL)

        (failure,) = outcome
        assert isinstance(failure, Failure)
        assert failure.code == "actor.restarted"
        assert "stopped unexpectedly and was restarted" in failure.message
        with trio.fail_after(10):
            second = await _pong(client, actor)
        back_after = time.monotonic() - killed_at
        assert second.incarnation == first.incarnation + 1
        assert second.pid != first.pid
        print(f"{actor}: serving again {back_after * 1000:.0f} ms after SIGKILL")
        # the session survived the crash, byte for byte
        assert session_file.read_bytes() == before
        state = await client.request("supervisor", SessionGet(), timeout=10)
        assert isinstance(state, SessionState) and state.pins == ["keep me"]
        assert any(
            isinstance(e, ActorExited) and e.actor == actor and e.restarted for e in client.events
        )


async def test_restart_budget_disables_only_that_actor(tmp_path):
    async with open_tree(tmp_path, intensity=2, period_s=60) as (sup, client):
        for _ in range(3):
            pong = await _pong(client, "planner", timeout=30)
            os.kill(pong.pid, signal.SIGKILL)
            with trio.fail_after(10):
                while (
                    sup.children["planner"].incarnation == pong.incarnation
                    and sup.children["planner"].state != "disabled"
                ):
                    await trio.sleep(0.005)
        with trio.fail_after(10):
            while sup.children["planner"].state != "disabled":
                await trio.sleep(0.005)
        refused = await client.request("planner", Ping(), timeout=10)
        assert isinstance(refused, Failure) and refused.code == "actor.disabled"
        assert "planner" in refused.message and "turned off" in refused.message
        assert "crashed more than 2 times" in refused.why
        # the rest keeps working
        assert isinstance(await client.request("exporter", Ping(), timeout=10), Pong)
        assert any(isinstance(e, ActorExited) and e.disabled for e in client.events)


async def test_session_survives_a_pgask_restart(tmp_path):
    async with open_tree(tmp_path) as (_sup, client):
        await client.request(
            "supervisor", SessionAddTurn(turn=Turn(question="top customers", sql="SELECT 1"))
        )
        first = await client.request("supervisor", SessionGet())
    async with open_tree(tmp_path) as (_sup, client):
        again = await client.request("supervisor", SessionGet())
    assert isinstance(again, SessionState) and isinstance(first, SessionState)
    assert again.session == first.session
    assert [t.question for t in again.turns] == ["top customers"]


async def _reply(raw: zmq.Socket) -> tuple[Header, object]:
    """The next reply on a raw socket, skipping events (actor.exited) it may also get."""
    while True:
        header, body = codec.decode(await trio.to_thread.run_sync(raw.recv_multipart))
        if header.reply_to:
            return header, body


def _raw_header(**kw) -> bytes:
    fields = {"id": "x:1:1", "kind": "actor.ping", "src": "intruder", "dst": "supervisor"} | kw
    return msgspec.msgpack.encode(fields)


async def test_garbage_never_crashes_or_acts(tmp_path):
    async with open_tree(tmp_path) as (sup, client):
        pong = await _pong(client, "exporter", timeout=30)
        ctx = zmq.Context()
        raw = ctx.socket(zmq.DEALER)
        raw.setsockopt(zmq.LINGER, 0)
        raw.setsockopt(zmq.IDENTITY, b"intruder")
        raw.setsockopt(zmq.RCVTIMEO, 5000)
        raw.connect(sup.endpoint)
        try:
            # dropped and logged: not a header at all, wrong frame count, spoofed sender
            raw.send_multipart([b"\xc1\xff garbage"])
            raw.send_multipart([b"\x00" * 10, b"\x01", b"\x02"])
            raw.send_multipart([_raw_header(src="ui"), codec.encode_body(Ping())])
            # error replies: wrong protocol version, unknown kind, malformed body, oversized body
            raw.send_multipart([_raw_header(v=99), codec.encode_body(Ping())])
            header, body = await _reply(raw)
            assert isinstance(body, Failure) and body.code == "protocol.version_mismatch"
            raw.send_multipart([_raw_header(kind="drop.everything"), b"\x80"])
            header, body = await _reply(raw)
            assert isinstance(body, Failure) and body.code == "protocol.unknown_kind"
            raw.send_multipart(
                [
                    _raw_header(dst="exporter", id="x:1:2"),
                    msgspec.msgpack.encode({"kind": "actor.ping", "hold_ms": "soon"}),
                ]
            )
            header, body = await _reply(raw)
            assert isinstance(body, Failure) and body.code == "protocol.bad_message"
            assert header.src == "exporter" and header.reply_to == "x:1:2"
            raw.send_multipart(
                [_raw_header(dst="exporter", id="x:1:3"), b"\x00" * (codec.MAX_FRAME_BYTES + 1)]
            )
            header, body = await _reply(raw)
            assert isinstance(body, Failure) and body.code == "protocol.too_large"
        finally:
            raw.close()
            ctx.term()
        # nothing crashed: same processes, same incarnations
        again = await _pong(client, "exporter")
        assert (again.pid, again.incarnation) == (pong.pid, pong.incarnation)
        assert sup.children["exporter"].restarts == 0
        log = (sup.log_dir / "supervisor.log").read_text()
        assert "supervisor.message.dropped" in log and "claimed to come from 'ui'" in log


async def test_unknown_profile_is_an_error_reply(tmp_path):
    async with open_tree(tmp_path, config=make_config({"demo": "postgresql:///x"})) as (
        _sup,
        client,
    ):
        reply = await client.request("executor:dmeo", Ping(), timeout=10)
        assert isinstance(reply, Failure) and reply.code == "config.unknown_profile"
        assert "dmeo" in reply.message and "demo" in reply.why


async def test_children_exit_when_supervisor_dies(tmp_path):
    """Kill a whole `pgask actors`-style tree with SIGKILL: no child lingers."""
    import subprocess
    import sys

    script = (
        "import trio, sys\n"
        "from pathlib import Path\n"
        "from testkit.tree import open_tree\n"
        "from protocol.messages import ActorsRequest\n"
        "async def main():\n"
        "    async with open_tree(Path(sys.argv[1])) as (sup, client):\n"
        "        st = await client.request('supervisor', ActorsRequest(), timeout=60)\n"
        "        print(' '.join(str(a.pid) for a in st.actors[1:]), flush=True)\n"
        "        await trio.sleep(600)\n"
        "trio.run(main)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        line = await trio.to_thread.run_sync(proc.stdout.readline)
        pids = [int(p) for p in line.split()]
        assert len(pids) == 3
    finally:
        proc.kill()
        proc.wait()
    with trio.fail_after(10):
        while any(_alive(p) for p in pids):
            await trio.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_loopback_tcp_with_curve_where_ipc_is_unavailable(tmp_path, monkeypatch):
    """PGASK_TRANSPORT=tcp (what Windows gets): every actor talks over CURVE-encrypted TCP,
    and a peer without the run's server key is never heard."""
    monkeypatch.setenv("PGASK_TRANSPORT", "tcp")
    async with open_tree(tmp_path, config=make_config({"demo": "postgresql:///x"})) as (
        sup,
        client,
    ):
        assert sup.endpoint.startswith("tcp://127.0.0.1:") and "#curve=" in sup.endpoint
        status = await client.request("supervisor", ActorsRequest(profiles=["demo"]), timeout=30)
        assert isinstance(status, ActorsStatus)
        assert all(a.rtt_ms is not None for a in status.actors if a.actor != "supervisor")
        ctx = zmq.Context()
        plain = ctx.socket(zmq.DEALER)
        plain.setsockopt(zmq.LINGER, 0)
        plain.setsockopt(zmq.IDENTITY, b"eavesdropper")
        plain.connect(sup.endpoint.partition("#")[0])  # no CURVE keys: the handshake fails
        try:
            plain.send_multipart([_raw_header(src="eavesdropper"), codec.encode_body(Ping())])
            assert plain.poll(1000) == 0  # bounded wait for an answer that must never come
        finally:
            plain.close()
            ctx.term()
        assert b"eavesdropper" not in sup.clients
