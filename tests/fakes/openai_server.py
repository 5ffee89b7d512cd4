"""A scripted OpenAI-compatible HTTP server: the model the tests can run.

It is a real HTTP server (stdlib ``ThreadingHTTPServer`` on 127.0.0.1, port 0 by default, in a
background thread), so the real ``openai`` client, sync or async, under trio or asyncio, talks to
it over TCP. It speaks::

    POST /v1/chat/completions   JSON, or SSE chunks ending in ``data: [DONE]`` when "stream": true
    GET  /v1/models             one model (``fake-model``)
    GET  /v1/models/<id>

(the same paths without ``/v1`` work too). Only the standard library is imported, so the
subprocess mode starts fast.

In a test::

    with FakeOpenAI() as fake:
        fake.reply("SELECT 1")
        fake.tool_call("describe_table", {"name": "orders"})
        fake.error(429, headers={"Retry-After": "0"})
        client = openai.OpenAI(base_url=fake.url, api_key="test")   # fake.url: http://127.0.0.1:PORT/v1
        ...
        assert fake.requests[0].authorization == "Bearer test"

Each chat request takes the next step of the script:

    Reply(content)              assistant text, finish_reason "stop"
    ToolCalls(calls)            one or several tool calls, finish_reason "tool_calls"
    HttpError(status, ...)      an error status with an OpenAI-shaped JSON body and extra headers
    Malformed(body)             a 200 whose body is not valid JSON (or a broken SSE event)
    Hang()                      no answer until the client disconnects (or the server closes)
    Disconnect()                close the connection without answering

Every step takes ``delay_s`` (wait before answering; the wait ends early if the client goes
away), and the two answer steps take ``chunk_delay_s`` (wait between SSE chunks). Precedence:
``responder(request)`` when set and it returns a step, else the queue, else ``default``. When
no default is set an exhausted script answers HTTP 500 with ``x-should-retry: false`` and a
message saying the script ran out, so a test never passes by accident.

As a separate process (for end-to-end tests that run pgask in tmux)::

    python -m tests.fakes.openai_server --script steps.jsonl [--port N] [--record requests.jsonl]

prints its base URL (``http://127.0.0.1:PORT/v1``) as the first stdout line and serves until
SIGTERM/SIGINT. The script is JSON Lines, one step per line, e.g.::

    {"kind": "reply", "content": "SELECT 1"}
    {"kind": "tool_calls", "calls": [{"name": "describe_table", "arguments": {"name": "orders"}}]}
    {"kind": "tool_call", "name": "run_sql", "arguments": {"sql": "SELECT 1"}}
    {"kind": "error", "status": 429, "headers": {"Retry-After": "0"}}
    {"kind": "malformed"}
    {"kind": "hang"}
    {"kind": "reply", "content": "slow", "delay_s": 3}

Blank lines and lines starting with ``#`` are ignored. ``--record`` appends one JSON line per
request received. ``FakeOpenAIProcess`` in this module wraps that for tests.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, TypeAlias

DEFAULT_MODEL = "fake-model"

# -- the script -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCall:
    """One tool call. `arguments` given as a str is sent verbatim (so it may be invalid JSON)."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments))


@dataclass(frozen=True, kw_only=True)
class Reply:
    """Assistant text. `chunks` fixes how a streamed reply is split (default: by words)."""

    content: str
    finish_reason: str = "stop"
    chunks: tuple[str, ...] | None = None
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    kind: Literal["reply"] = "reply"


@dataclass(frozen=True, kw_only=True)
class ToolCalls:
    """One or several tool calls, with optional assistant text before them."""

    calls: tuple[ToolCall, ...]
    content: str | None = None
    finish_reason: str = "tool_calls"
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    kind: Literal["tool_calls"] = "tool_calls"


@dataclass(frozen=True, kw_only=True)
class HttpError:
    """An HTTP error. `body` None means an OpenAI-shaped {"error": {...}} built from `message`."""

    status: int
    message: str | None = None
    type: str = "fake_error"
    code: str | None = None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    kind: Literal["error"] = "error"

    def json_body(self) -> Any:
        if self.body is not None:
            return self.body
        message = self.message or f"FakeOpenAI scripted HTTP {self.status}"
        return {"error": {"message": message, "type": self.type, "param": None, "code": self.code}}


@dataclass(frozen=True, kw_only=True)
class Malformed:
    """A response that is not valid JSON: the body as given (non-streaming) or one broken SSE event."""

    body: str = '{"id": "chatcmpl-malformed", "object": "chat.completion", "choices": [{"index'
    status: int = 200
    content_type: str = "application/json"
    delay_s: float = 0.0
    kind: Literal["malformed"] = "malformed"


@dataclass(frozen=True, kw_only=True)
class Hang:
    """Never answer: wait until the client disconnects or the server closes."""

    delay_s: float = 0.0
    kind: Literal["hang"] = "hang"


@dataclass(frozen=True, kw_only=True)
class Disconnect:
    """Close the connection without sending a response."""

    delay_s: float = 0.0
    kind: Literal["disconnect"] = "disconnect"


Step: TypeAlias = Reply | ToolCalls | HttpError | Malformed | Hang | Disconnect
Responder: TypeAlias = Callable[["RecordedRequest"], "Step | str | None"]

_STEP_TYPES: dict[str, type[Any]] = {
    "reply": Reply,
    "tool_calls": ToolCalls,
    "error": HttpError,
    "malformed": Malformed,
    "hang": Hang,
    "disconnect": Disconnect,
}


def as_step(step: Step | str) -> Step:
    return Reply(content=step) if isinstance(step, str) else step


def step_to_json(step: Step) -> dict[str, Any]:
    """The JSON-Lines form of a step (inverse of step_from_json)."""
    data = asdict(step)
    if isinstance(step, ToolCalls):
        data["calls"] = [
            {k: v for k, v in asdict(c).items() if v is not None} | {"arguments": c.arguments}
            for c in step.calls
        ]
    if isinstance(step, Reply) and step.chunks is not None:
        data["chunks"] = list(step.chunks)
    return data


def step_from_json(data: Mapping[str, Any]) -> Step:
    """Build a step from one script line. Unknown kinds and fields raise ValueError."""
    data = dict(data)
    kind = data.pop("kind", None)
    if kind == "tool_call":  # shorthand for a single call
        call = {k: data.pop(k) for k in ("name", "arguments", "id") if k in data}
        data["calls"] = [call]
        kind = "tool_calls"
    cls = _STEP_TYPES.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown step kind {kind!r}; expected one of {sorted(_STEP_TYPES)}")
    if cls is ToolCalls:
        data["calls"] = tuple(ToolCall(**c) for c in data.get("calls", ()))
    if cls is Reply and data.get("chunks") is not None:
        data["chunks"] = tuple(data["chunks"])
    try:
        return cls(**data)
    except TypeError as exc:
        raise ValueError(f"bad {kind} step {data!r}: {exc}") from exc


def read_script(path: str | os.PathLike[str]) -> list[Step]:
    """Steps from a JSON Lines file (blank lines and `#` comments skipped)."""
    steps: list[Step] = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            steps.append(step_from_json(json.loads(text)))
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: {exc}") from exc
    return steps


def write_script(path: str | os.PathLike[str], steps: Iterable[Step | str]) -> Path:
    out = Path(path)
    out.write_text(
        "".join(json.dumps(step_to_json(as_step(s))) + "\n" for s in steps), encoding="utf-8"
    )
    return out


# -- what the server saw --------------------------------------------------------------------------

Outcome: TypeAlias = Literal["pending", "answered", "client_disconnected", "server_closed"]


@dataclass
class RecordedRequest:
    """One request as received. `headers` has lower-case names; `body` is the parsed JSON.

    `outcome` is set by the handler thread after the answer is written, which can be after the
    client has read it: use FakeOpenAI.wait_for_outcome(index) to assert on it.
    """

    index: int
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    step: str = ""
    outcome: Outcome = "pending"

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def json(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.json.get("messages") or [])

    @property
    def model(self) -> str | None:
        return self.json.get("model")

    @property
    def stream(self) -> bool:
        return bool(self.json.get("stream"))

    @property
    def tools(self) -> list[dict[str, Any]]:
        return list(self.json.get("tools") or [])

    @property
    def last_user_message(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, list):  # content parts
                    return "".join(p.get("text", "") for p in content if isinstance(p, dict))
                return str(content or "")
        return ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- wire format ----------------------------------------------------------------------------------


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _usage(request: RecordedRequest, completion: str) -> dict[str, int]:
    prompt = _tokens(json.dumps(request.messages))
    done = _tokens(completion)
    return {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}


def _call_id(step_index: int, call_index: int, call: ToolCall) -> str:
    return call.id or f"call_fake_{step_index}_{call_index}"


def completion_body(
    step: Reply | ToolCalls, request: RecordedRequest, model: str
) -> dict[str, Any]:
    """A non-streaming `chat.completion` object for `step`."""
    message: dict[str, Any] = {"role": "assistant", "refusal": None}
    if isinstance(step, Reply):
        message["content"] = step.content
        produced = step.content
    else:
        message["content"] = step.content
        message["tool_calls"] = [
            {
                "id": _call_id(request.index, i, call),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json()},
            }
            for i, call in enumerate(step.calls)
        ]
        produced = (step.content or "") + "".join(c.arguments_json() for c in step.calls)
    return {
        "id": f"chatcmpl-fake-{request.index}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model or model,
        "system_fingerprint": "fp_fake",
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": step.finish_reason}
        ],
        "usage": _usage(request, produced),
    }


def _split_words(text: str) -> list[str]:
    return re.findall(r"\s*\S+\s*", text) or [text]


def _split_in(text: str, parts: int) -> list[str]:
    if len(text) <= parts:
        return [text]
    size = -(-len(text) // parts)
    return [text[i : i + size] for i in range(0, len(text), size)]


def stream_chunks(
    step: Reply | ToolCalls, request: RecordedRequest, model: str
) -> list[dict[str, Any]]:
    """The `chat.completion.chunk` objects of a streamed answer (without the [DONE] marker)."""
    base = {
        "id": f"chatcmpl-fake-{request.index}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.model or model,
        "system_fingerprint": "fp_fake",
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return base | {"choices": [choice]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    content = step.content or ""
    if isinstance(step, Reply):
        pieces = list(step.chunks) if step.chunks is not None else _split_words(content)
        chunks += [chunk({"content": piece}) for piece in pieces if piece]
        produced = content
    else:
        if content:
            chunks += [chunk({"content": piece}) for piece in _split_words(content)]
        produced = content
        for i, call in enumerate(step.calls):
            args = call.arguments_json()
            produced += args
            head = {
                "index": i,
                "id": _call_id(request.index, i, call),
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            chunks.append(chunk({"tool_calls": [head]}))
            chunks += [
                chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]})
                for part in _split_in(args, 3)
                if part
            ]
    chunks.append(chunk({}, step.finish_reason))
    options = request.json.get("stream_options") or {}
    if options.get("include_usage"):
        chunks.append(base | {"choices": [], "usage": _usage(request, produced)})
    return chunks


# -- the server -----------------------------------------------------------------------------------


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeOpenAI


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1"
    server: _Server

    # -- plumbing --
    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests assert on .requests
        pass

    def _wait(self, timeout: float | None) -> Outcome | None:
        """Wait `timeout` s (None: forever); stop early if the client leaves or the server closes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        watch: list[Any] = [self.connection, self.server.fake._stop_r]
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select(watch, [], [], left)
            if not ready:
                return None
            if self.server.fake._stop_r in ready:
                return "server_closed"
            try:
                peek = self.connection.recv(1, socket.MSG_PEEK)
            except OSError:
                return "client_disconnected"
            if not peek:
                return "client_disconnected"
            watch = [self.server.fake._stop_r]  # the client sent more: only watch for close

    def _send_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_fake_{id(self):x}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _read_body(self) -> tuple[Any, str | None]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None, None
        try:
            return json.loads(raw), None
        except ValueError as exc:
            return raw.decode("utf-8", "replace"), f"request body is not JSON: {exc}"

    # -- routes --
    def do_GET(self) -> None:
        fake = self.server.fake
        request = fake._record(self, None, "models")
        path = self.path.split("?", 1)[0].rstrip("/")
        model = {"id": fake.model, "object": "model", "created": 0, "owned_by": "pgask-tests"}
        if path in ("/v1/models", "/models"):
            self._send_json(200, {"object": "list", "data": [model]})
        elif re.fullmatch(r"(/v1)?/models/[^/]+", path):
            wanted = path.rsplit("/", 1)[1]
            if wanted == fake.model:
                self._send_json(200, model)
            else:
                self._send_json(
                    404, HttpError(status=404, message=f"no model {wanted}").json_body()
                )
        else:
            self._not_found()
        fake._finish(request, "answered")

    def do_POST(self) -> None:
        fake = self.server.fake
        body, problem = self._read_body()
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            request = fake._record(self, body, "not_found")
            self._not_found()
            fake._finish(request, "answered")
            return
        if problem is not None:
            request = fake._record(self, body, "bad_request")
            self._send_json(400, HttpError(status=400, message=problem).json_body())
            fake._finish(request, "answered")
            return
        request, step = fake._take(self, body)
        try:
            outcome = self._serve(step, request)
        except (BrokenPipeError, ConnectionResetError):
            outcome = "client_disconnected"
        if outcome != "answered":
            self.close_connection = True
        fake._finish(request, outcome)

    def _not_found(self) -> None:
        self._send_json(404, HttpError(status=404, message=f"no route {self.path}").json_body())

    def _serve(self, step: Step, request: RecordedRequest) -> Outcome:
        fake = self.server.fake
        if step.delay_s > 0 and (gone := self._wait(step.delay_s)) is not None:
            return gone
        if isinstance(step, Hang):
            return self._wait(None) or "server_closed"
        if isinstance(step, Disconnect):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return "answered"
        if isinstance(step, HttpError):
            self._send_json(step.status, step.json_body(), step.headers)
            return "answered"
        if isinstance(step, Malformed):
            if request.stream:
                return self._send_events([step.body], 0.0, done=False)
            data = step.body.encode()
            self.send_response(step.status)
            self.send_header("Content-Type", step.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            return "answered"
        if request.stream:
            events = [json.dumps(c) for c in stream_chunks(step, request, fake.model)]
            return self._send_events(events, step.chunk_delay_s, done=True)
        self._send_json(200, completion_body(step, request, fake.model))
        return "answered"

    def _send_events(self, events: Sequence[str], gap_s: float, *, done: bool) -> Outcome:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", f"req_fake_{id(self):x}")
        self.end_headers()
        self.wfile.flush()
        for i, event in enumerate([*events, "[DONE]"] if done else events):
            if i and gap_s > 0 and (gone := self._wait(gap_s)) is not None:
                return gone
            data = f"data: {event}\n\n".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        return "answered"


class FakeOpenAI:
    """A scripted OpenAI-compatible server in a background thread. See the module docstring.

    Usable as a context manager (``with FakeOpenAI() as fake:``), from sync and trio tests alike:
    starting binds a socket and starts a thread, closing stops it and releases hung requests.
    """

    def __init__(
        self,
        steps: Iterable[Step | str] = (),
        *,
        responder: Responder | None = None,
        default: Step | str | None = None,
        model: str = DEFAULT_MODEL,
        host: str = "127.0.0.1",
        port: int = 0,
        record_to: IO[str] | None = None,
    ) -> None:
        self.model = model
        self.responder = responder
        self.default: Step | None = None if default is None else as_step(default)
        self._host, self._port = host, port
        self._record_to = record_to
        self._queue: deque[Step] = deque(as_step(s) for s in steps)
        self._requests: list[RecordedRequest] = []
        self._cond = threading.Condition()
        self._conns: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._closing = False
        self._stop_r, self._stop_w = os.pipe()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --
    def start(self) -> FakeOpenAI:
        if self._server is not None:
            return self
        server = _Server((self._host, self._port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"FakeOpenAI:{server.server_address[1]}",
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, release hung and delayed requests, and join every handler thread."""
        server, self._server = self._server, None
        if server is None:
            return
        os.write(self._stop_w, b"x")  # wakes Hang, delays and chunk gaps
        server.shutdown()
        server.server_close()
        with self._cond:
            self._closing = True
            conns, threads = list(self._conns), list(self._handler_threads)
        for conn in conns:  # idle keep-alive connections: wake their handler threads
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        for thread in threads:
            thread.join(timeout=5)
        if not any(t.is_alive() for t in threads):  # else leak the pipe rather than break a thread
            os.close(self._stop_r)
            os.close(self._stop_w)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- addresses --
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not started")
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def url(self) -> str:
        """The base URL to give the openai client: http://127.0.0.1:PORT/v1"""
        return f"{self.origin}/v1"

    base_url = url

    # -- scripting --
    def push(self, *steps: Step | str) -> None:
        with self._cond:
            self._queue.extend(as_step(s) for s in steps)

    def reply(
        self,
        content: str,
        *,
        chunks: Sequence[str] | None = None,
        finish_reason: str = "stop",
        delay_s: float = 0.0,
        chunk_delay_s: float = 0.0,
    ) -> Reply:
        step = Reply(
            content=content,
            chunks=None if chunks is None else tuple(chunks),
            finish_reason=finish_reason,
            delay_s=delay_s,
            chunk_delay_s=chunk_delay_s,
        )
        self.push(step)
        return step

    def tool_call(
        self,
        name: str,
        arguments: Mapping[str, Any] | str | None = None,
        *,
        id: str | None = None,
        content: str | None = None,
        delay_s: float = 0.0,
        chunk_delay_s: float = 0.0,
    ) -> ToolCalls:
        return self.tool_calls(
            ToolCall(name, {} if arguments is None else arguments, id),
            content=content,
            delay_s=delay_s,
            chunk_delay_s=chunk_delay_s,
        )

    def tool_calls(
        self,
        *calls: ToolCall | tuple[str, Mapping[str, Any] | str],
        content: str | None = None,
        delay_s: float = 0.0,
        chunk_delay_s: float = 0.0,
    ) -> ToolCalls:
        step = ToolCalls(
            calls=tuple(c if isinstance(c, ToolCall) else ToolCall(*c) for c in calls),
            content=content,
            delay_s=delay_s,
            chunk_delay_s=chunk_delay_s,
        )
        self.push(step)
        return step

    def error(
        self,
        status: int,
        message: str | None = None,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        type: str = "fake_error",
        code: str | None = None,
        delay_s: float = 0.0,
    ) -> HttpError:
        step = HttpError(
            status=status,
            message=message,
            body=body,
            headers=dict(headers or {}),
            type=type,
            code=code,
            delay_s=delay_s,
        )
        self.push(step)
        return step

    def malformed(self, body: str | None = None, *, delay_s: float = 0.0) -> Malformed:
        step = Malformed(delay_s=delay_s) if body is None else Malformed(body=body, delay_s=delay_s)
        self.push(step)
        return step

    def hang(self) -> Hang:
        step = Hang()
        self.push(step)
        return step

    def disconnect(self, *, delay_s: float = 0.0) -> Disconnect:
        step = Disconnect(delay_s=delay_s)
        self.push(step)
        return step

    @property
    def pending(self) -> int:
        """Steps not used yet."""
        with self._cond:
            return len(self._queue)

    def assert_script_consumed(self) -> None:
        left = self.pending
        assert left == 0, f"FakeOpenAI: {left} scripted step(s) were never requested"

    # -- what happened --
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, in arrival order (chat, models, and bad ones)."""
        with self._cond:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least `n` requests arrived (raise TimeoutError after `timeout` s).

        From trio code, call it through ``trio.to_thread.run_sync``.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._requests) >= n, timeout):
                raise TimeoutError(
                    f"FakeOpenAI: expected {n} request(s) within {timeout} s, "
                    f"got {len(self._requests)}"
                )
            return list(self._requests)

    def wait_for_outcome(self, index: int, timeout: float = 5.0) -> Outcome:
        """Block until request `index` is no longer pending; return its outcome."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: len(self._requests) > index and self._requests[index].outcome != "pending",
                timeout,
            )
            if not ok:
                raise TimeoutError(f"FakeOpenAI: request #{index} still pending after {timeout} s")
            return self._requests[index].outcome

    # -- called by the handler threads --
    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._cond:
            if add:
                self._conns.add(conn)
                self._handler_threads.add(threading.current_thread())
                if self._closing:  # accepted while close() ran: do not serve it
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)
            else:
                self._conns.discard(conn)
                self._handler_threads.discard(threading.current_thread())

    def _record(self, handler: _Handler, body: Any, step: str) -> RecordedRequest:
        with self._cond:
            request = RecordedRequest(
                index=len(self._requests),
                method=handler.command,
                path=handler.path,
                headers={k.lower(): v for k, v in handler.headers.items()},
                body=body,
                step=step,
            )
            self._requests.append(request)
            if step:  # a chat request is persisted once its step is known (in _take)
                self._persist(request)
            self._cond.notify_all()
        return request

    def _persist(self, request: RecordedRequest) -> None:
        if self._record_to is not None:  # called with self._cond held
            self._record_to.write(json.dumps(request.to_json()) + "\n")
            self._record_to.flush()

    def _finish(self, request: RecordedRequest, outcome: Outcome) -> None:
        with self._cond:
            request.outcome = outcome
            self._cond.notify_all()

    def _take(self, handler: _Handler, body: Any) -> tuple[RecordedRequest, Step]:
        request = self._record(handler, body, "")
        step: Step | None = None
        if self.responder is not None:
            try:
                answer = self.responder(request)
            except Exception:
                answer = HttpError(
                    status=500,
                    message="FakeOpenAI: the responder raised:\n" + traceback.format_exc(),
                    type="fake_responder_error",
                    headers={"x-should-retry": "false"},
                )
            step = None if answer is None else as_step(answer)
        if step is None:
            with self._cond:
                step = self._queue.popleft() if self._queue else None
        if step is None:
            step = self.default or HttpError(
                status=500,
                message=(
                    f"FakeOpenAI: the script ran out of steps at request #{request.index} "
                    f"({request.method} {request.path}). Script more replies "
                    "(fake.reply / fake.tool_call / fake.error), or set fake.default."
                ),
                type="fake_script_exhausted",
                headers={"x-should-retry": "false"},
            )
        with self._cond:
            request.step = step.kind
            self._persist(request)
        return request, step


# -- as a separate process ------------------------------------------------------------------------


class FakeOpenAIProcess:
    """Run the fake as a subprocess (``python -m tests.fakes.openai_server``), e.g. for tmux tests.

    ``with FakeOpenAIProcess([Reply(content="SELECT 1")], workdir=tmp_path) as fake:`` gives
    ``fake.url``; ``fake.requests()`` reads what the process recorded so far.
    """

    def __init__(
        self,
        steps: Iterable[Step | str],
        *,
        workdir: str | os.PathLike[str],
        port: int = 0,
        start_timeout_s: float = 10.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.script_path = write_script(self.workdir / "fake_openai_script.jsonl", steps)
        self.record_path = self.workdir / "fake_openai_requests.jsonl"
        self._port = port
        self._start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> FakeOpenAIProcess:
        repo_root = Path(__file__).resolve().parents[2]
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.fakes.openai_server",
                *("--script", str(self.script_path)),
                *("--record", str(self.record_path)),
                *("--port", str(self._port)),
            ],
            cwd=repo_root,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], self._start_timeout_s)
        line = self.proc.stdout.readline().strip() if ready else ""
        if not line.startswith("http://"):
            self.close()
            raise RuntimeError(f"fake OpenAI process did not print its URL (got {line!r})")
        self.url = line
        return self

    def requests(self) -> list[dict[str, Any]]:
        if not self.record_path.exists():
            return []
        lines = self.record_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> FakeOpenAIProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.openai_server",
        description="Scripted OpenAI-compatible server for pgask tests.",
    )
    parser.add_argument("--script", help="JSON Lines file, one step per line")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--record", help="append one JSON line per request to this file")
    parser.add_argument("--default-reply", help="answer this text once the script is used up")
    args = parser.parse_args(argv)

    steps = read_script(args.script) if args.script else []
    # Block the stop signals before any thread starts, then wait for them with sigwait.
    # (SIG_DFL first: a background job of a non-interactive shell inherits SIGINT ignored, and an
    # ignored signal is discarded instead of being left pending for sigwait.)
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    for signum in stop_signals:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    with contextlib.ExitStack() as stack:
        record = None
        if args.record:
            record = stack.enter_context(open(args.record, "a", encoding="utf-8"))
        fake = FakeOpenAI(
            steps,
            default=args.default_reply,
            model=args.model,
            host=args.host,
            port=args.port,
            record_to=record,
        )
        stack.enter_context(fake)
        print(fake.url, flush=True)
        signal.sigwait(stop_signals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
