"""Round trip through the supervisor and 64 KiB batch throughput, beside raw pyzmq.

    python bench/bench_protocol.py [--n 3000] [--batches 2000]

pgask path: client DEALER -> supervisor ROUTER -> exporter DEALER -> back (trio, msgspec,
header validation, in-flight tracking). Raw path, same two-hop shape in plain blocking
pyzmq: DEALER -> forwarding ROUTER process -> echo DEALER process -> back, no decoding.
Ratios are pgask / raw (higher = slower). Machines here are shared: read the ratios.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trio
import zmq

from protocol.messages import Ping
from testkit.tree import open_tree

SMALL = b"x" * 64
BATCH = os.urandom(64 * 1024)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


# -- pgask --------------------------------------------------------------------


async def pgask_bench(n: int, batches: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        async with open_tree(Path(tmp)) as (_sup, client):
            await client.request("exporter", Ping(), timeout=60)
            rtts = []
            for _ in range(n):
                t = time.perf_counter()
                await client.request("exporter", Ping(payload=SMALL))
                rtts.append((time.perf_counter() - t) * 1e6)
            done = trio.Event()
            got = 0

            async def one() -> None:
                nonlocal got
                await client.request("exporter", Ping(payload=BATCH, echo=False), timeout=120)
                got += 1
                if got == batches:
                    done.set()

            t = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for _ in range(batches):
                    nursery.start_soon(one)
                await done.wait()
            elapsed = time.perf_counter() - t
    return {"p50": pct(rtts, 0.5), "p99": pct(rtts, 0.99), "batch_per_s": batches / elapsed}


# -- raw pyzmq, same shape ------------------------------------------------------


def _raw_router(endpoint: str) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(endpoint)
    while True:
        ident, dst, payload = sock.recv_multipart()
        if dst == b"quit":
            return
        sock.send_multipart([dst, ident, payload])


def _raw_echo(endpoint: str) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.IDENTITY, b"echo")
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    sock.send_multipart([b"router", b"hello"])
    while True:
        src, payload = sock.recv_multipart()
        sock.send_multipart([src, payload if len(payload) < 1024 else b"ok"])


def raw_bench(n: int, batches: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        endpoint = f"ipc://{tmp}/raw.sock"
        mp = multiprocessing.get_context("spawn")
        router = mp.Process(target=_raw_router, args=(endpoint,), daemon=True)
        router.start()
        echo = mp.Process(target=_raw_echo, args=(endpoint,), daemon=True)
        echo.start()
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        time.sleep(1.0)  # let the echo process connect (raw baseline: no Ready handshake)
        sock.send_multipart([b"echo", SMALL])
        sock.recv_multipart()
        rtts = []
        for _ in range(n):
            t = time.perf_counter()
            sock.send_multipart([b"echo", SMALL])
            sock.recv_multipart()
            rtts.append((time.perf_counter() - t) * 1e6)
        t = time.perf_counter()
        for _ in range(batches):
            sock.send_multipart([b"echo", BATCH])
        for _ in range(batches):
            sock.recv_multipart()
        elapsed = time.perf_counter() - t
        sock.send_multipart([b"quit", b""])
        router.join(2)
        echo.kill()
        sock.close()
        ctx.term()
    return {"p50": pct(rtts, 0.5), "p99": pct(rtts, 0.99), "batch_per_s": batches / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--batches", type=int, default=2000)
    args = parser.parse_args()
    raw = raw_bench(args.n, args.batches)
    ours = trio.run(pgask_bench, args.n, args.batches)
    mb = len(BATCH) / (1024 * 1024)
    print(
        f"round trip, {len(SMALL)} B payload, {args.n} requests, client -> supervisor -> actor -> back"
    )
    print(f"  {'':10} {'p50 µs':>10} {'p99 µs':>10}")
    print(f"  {'raw pyzmq':10} {raw['p50']:>10.0f} {raw['p99']:>10.0f}")
    print(f"  {'pgask':10} {ours['p50']:>10.0f} {ours['p99']:>10.0f}")
    print(f"  ratio      {ours['p50'] / raw['p50']:>10.2f} {ours['p99'] / raw['p99']:>10.2f}")
    print(f"one-way throughput, 64 KiB batches, {args.batches} pipelined")
    print(
        f"  raw pyzmq  {raw['batch_per_s']:>8.0f} batches/s  {raw['batch_per_s'] * mb:>7.1f} MiB/s"
    )
    print(
        f"  pgask      {ours['batch_per_s']:>8.0f} batches/s  {ours['batch_per_s'] * mb:>7.1f} MiB/s"
    )
    print(f"  ratio (pgask/raw) {ours['batch_per_s'] / raw['batch_per_s']:.2f}")


if __name__ == "__main__":
    main()
