"""The scripted OpenAI-compatible server, checked with the real openai client (sync and trio)."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest
import trio

from tests.fakes.openai_server import (
    FakeOpenAI,
    FakeOpenAIProcess,
    HttpError,
    Malformed,
    RecordedRequest,
    Reply,
    ToolCall,
    ToolCalls,
    read_script,
    step_from_json,
    step_to_json,
    write_script,
)

MESSAGES: list[dict[str, str]] = [
    {"role": "system", "content": "You write PostgreSQL."},
    {"role": "user", "content": "how many orders?"},
]
# openai's AsyncStream breaks out of its async generators (and httpx2's) at [DONE] without closing
# them, and trio warns (ResourceWarning, shown under -W error / -X dev) when they are collected.
# Upstream behaviour, not the fake's.
openai_stream_gc = pytest.mark.filterwarnings(
    r"ignore:Async generator '(openai|httpx2|httpcore2)\.:ResourceWarning"
)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "describe_table",
            "parameters": {"type": "object", "properties": {"name": {"type": "string"}}},
        },
    }
]


def sync_client(fake: FakeOpenAI, **kwargs: object) -> openai.OpenAI:
    kwargs.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=fake.url, api_key="test", **kwargs)  # type: ignore[arg-type]


def async_client(fake: FakeOpenAI, **kwargs: object) -> openai.AsyncOpenAI:
    kwargs.setdefault("max_retries", 0)
    return openai.AsyncOpenAI(base_url=fake.url, api_key="test", **kwargs)  # type: ignore[arg-type]


def test_text_reply_and_the_request_is_recorded(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply("SELECT count(*) FROM orders")
    with sync_client(fake_openai) as client:
        done = client.chat.completions.create(model="gpt-test", messages=MESSAGES)  # type: ignore[arg-type]
    assert done.choices[0].message.content == "SELECT count(*) FROM orders"
    assert done.choices[0].finish_reason == "stop"
    assert done.model == "gpt-test"
    assert done.usage is not None and done.usage.total_tokens > 0
    (request,) = fake_openai.requests
    assert request.method == "POST" and request.path == "/v1/chat/completions"
    assert request.authorization == "Bearer test"
    assert request.messages == MESSAGES
    assert request.last_user_message == "how many orders?"
    # the client can have its answer before the handler thread marks the request finished
    assert fake_openai.wait_for_outcome(0) == "answered"
    fake_openai.assert_script_consumed()


async def test_text_reply_under_trio(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply("SELECT 1")
    async with async_client(fake_openai) as client:
        done = await client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    assert done.choices[0].message.content == "SELECT 1"


async def test_tool_calls_are_parsed_by_the_client(fake_openai: FakeOpenAI) -> None:
    fake_openai.tool_call("describe_table", {"name": "orders"})
    fake_openai.tool_calls(
        ("describe_table", {"name": "customers"}),
        ToolCall("run_sql", {"sql": "SELECT 1"}, id="call_mine"),
        content="Looking at two things.",
    )
    async with async_client(fake_openai) as client:
        first = await client.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS)  # type: ignore[arg-type]
        second = await client.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS)  # type: ignore[arg-type]

    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "describe_table"
    assert json.loads(call.function.arguments) == {"name": "orders"}

    calls = second.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["describe_table", "run_sql"]
    assert calls[1].id == "call_mine"
    assert json.loads(calls[1].function.arguments) == {"sql": "SELECT 1"}
    assert second.choices[0].message.content == "Looking at two things."
    assert fake_openai.requests[0].tools == TOOLS


@openai_stream_gc
async def test_streamed_text_is_assembled_from_chunks(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply("SELECT name\nFROM customers LIMIT 5")
    fake_openai.reply("abc", chunks=["a", "b", "c"])
    async with async_client(fake_openai) as client:
        stream = await client.chat.completions.create(
            model="m",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        stream2 = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        pieces = [c.choices[0].delta.content async for c in stream2 if c.choices]

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "SELECT name\nFROM customers LIMIT 5"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert [p for p in pieces if p] == ["a", "b", "c"]
    assert fake_openai.requests[0].stream


def test_streamed_tool_calls_are_assembled_by_the_stream_helper(fake_openai: FakeOpenAI) -> None:
    fake_openai.tool_calls(
        ("describe_table", {"name": "orders"}), ("run_sql", {"sql": "SELECT * FROM orders"})
    )
    with (
        sync_client(fake_openai) as client,
        client.chat.completions.stream(model="m", messages=MESSAGES, tools=TOOLS) as stream,  # type: ignore[arg-type]
    ):
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("describe_table", {"name": "orders"}),
        ("run_sql", {"sql": "SELECT * FROM orders"}),
    ]
    assert final.choices[0].finish_reason == "tool_calls"


async def test_429_with_retry_after_is_retried_by_the_client(fake_openai: FakeOpenAI) -> None:
    fake_openai.error(429, "slow down", headers={"Retry-After": "0.01"}, type="rate_limit")
    fake_openai.reply("SELECT 1")
    async with async_client(fake_openai, max_retries=2) as client:
        done = await client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    assert done.choices[0].message.content == "SELECT 1"
    assert [r.step for r in fake_openai.requests] == ["error", "reply"]


def test_429_without_retries_is_a_rate_limit_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.error(429, "slow down", headers={"Retry-After": "7"})
    with sync_client(fake_openai) as client, pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "7"
    assert "slow down" in str(info.value)


def test_500_is_an_internal_server_error_without_retries(fake_openai: FakeOpenAI) -> None:
    fake_openai.error(500, "the model fell over")
    with (
        sync_client(fake_openai) as client,
        pytest.raises(openai.InternalServerError, match="the model fell over"),
    ):
        client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    assert len(fake_openai.requests) == 1


async def test_a_delay_longer_than_the_timeout_is_an_api_timeout(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply("too late", delay_s=10)
    async with async_client(fake_openai, timeout=0.3) as client:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    # the server noticed the client leave and stopped waiting
    outcome = await trio.to_thread.run_sync(fake_openai.wait_for_outcome, 0)
    assert outcome == "client_disconnected"


async def test_a_short_delay_still_answers(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply("SELECT 1", delay_s=0.05)
    async with async_client(fake_openai, timeout=5) as client:
        with trio.fail_after(5):
            done = await client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    assert done.choices[0].message.content == "SELECT 1"


async def test_a_hang_ends_when_trio_cancels_the_call(fake_openai: FakeOpenAI) -> None:
    fake_openai.hang()
    async with async_client(fake_openai, timeout=30) as client:
        with trio.move_on_after(0.3) as scope:
            await client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    assert scope.cancelled_caught
    outcome = await trio.to_thread.run_sync(fake_openai.wait_for_outcome, 0)
    assert outcome == "client_disconnected"


def test_malformed_json_raises(fake_openai: FakeOpenAI) -> None:
    # openai does not wrap this one: a 200 with a broken JSON body raises JSONDecodeError
    fake_openai.malformed()
    with sync_client(fake_openai) as client, pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]


@openai_stream_gc
async def test_malformed_stream_event_raises(fake_openai: FakeOpenAI) -> None:
    fake_openai.malformed()
    async with async_client(fake_openai) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        with pytest.raises(json.JSONDecodeError):
            _ = [chunk async for chunk in stream]


def test_a_disconnect_is_a_connection_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.disconnect()
    with sync_client(fake_openai) as client, pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]


def test_an_empty_script_answers_500_and_asks_not_to_retry(fake_openai: FakeOpenAI) -> None:
    # default client retries are on: the exhausted-script reply carries x-should-retry: false
    with (
        openai.OpenAI(base_url=fake_openai.url, api_key="test") as client,
        pytest.raises(openai.InternalServerError, match="script ran out of steps"),
    ):
        client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    assert len(fake_openai.requests) == 1


def test_a_default_step_answers_when_the_script_is_empty() -> None:
    with FakeOpenAI(["first"], default=Reply(content="again")) as fake, sync_client(fake) as client:
        answers = [
            client.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content  # type: ignore[arg-type]
            for _ in range(3)
        ]
    assert answers == ["first", "again", "again"]


def test_a_responder_answers_by_content_and_falls_back_to_the_queue(
    fake_openai: FakeOpenAI,
) -> None:
    def responder(request: RecordedRequest) -> str | None:
        if "orders" in request.last_user_message:
            return "SELECT count(*) FROM orders"
        return None

    fake_openai.responder = responder
    fake_openai.reply("from the queue")
    with sync_client(fake_openai) as client:
        a = client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
        b = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hello"}]
        )
    assert a.choices[0].message.content == "SELECT count(*) FROM orders"
    assert b.choices[0].message.content == "from the queue"


def test_a_raising_responder_is_a_500_naming_the_error(fake_openai: FakeOpenAI) -> None:
    def responder(request: RecordedRequest) -> None:
        raise KeyError("no such question")

    fake_openai.responder = responder
    with (
        sync_client(fake_openai) as client,
        pytest.raises(openai.InternalServerError, match="no such question"),
    ):
        client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]


def test_models_are_listed(fake_openai: FakeOpenAI) -> None:
    with sync_client(fake_openai) as client:
        assert [m.id for m in client.models.list()] == ["fake-model"]
        assert client.models.retrieve("fake-model").owned_by == "pgask-tests"
    assert [r.path for r in fake_openai.requests] == ["/v1/models", "/v1/models/fake-model"]
    assert fake_openai.chat_requests == []


def test_close_releases_a_hung_request() -> None:
    fake = FakeOpenAI([HttpError(status=503)]).start()
    fake.hang()
    with sync_client(fake) as client, pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    # a raw socket request that hangs, then close() while it waits
    import socket

    body = json.dumps({"model": "m", "messages": MESSAGES}).encode()
    with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        fake.wait_for_requests(2)
        fake.close()
        assert sock.recv(100) == b""
    assert fake.requests[1].outcome == "server_closed"


def test_steps_round_trip_through_json_lines(tmp_path: Path) -> None:
    steps = [
        Reply(content="SELECT 1", chunks=("SEL", "ECT 1"), delay_s=0.5),
        ToolCalls(calls=(ToolCall("describe_table", {"name": "orders"}, id="c1"),)),
        ToolCalls(calls=(ToolCall("run_sql", '{"sql": broken'),), content="hm"),
        HttpError(status=429, headers={"Retry-After": "0"}),
        Malformed(body="{"),
    ]
    path = write_script(tmp_path / "script.jsonl", steps)
    assert read_script(path) == steps
    assert [step_from_json(step_to_json(s)) for s in steps] == steps
    assert step_from_json({"kind": "tool_call", "name": "x", "arguments": {"a": 1}}) == ToolCalls(
        calls=(ToolCall("x", {"a": 1}),)
    )
    with pytest.raises(ValueError, match="unknown step kind 'nope'"):
        step_from_json({"kind": "nope"})


def test_the_subprocess_mode_serves_a_script_file(tmp_path: Path) -> None:
    with FakeOpenAIProcess(
        ["SELECT 1", ToolCalls(calls=(ToolCall("describe_table", {"name": "orders"}),))],
        workdir=tmp_path,
    ) as proc:
        assert proc.url.startswith("http://127.0.0.1:") and proc.url.endswith("/v1")
        with openai.OpenAI(base_url=proc.url, api_key="sk-e2e", max_retries=0) as client:
            a = client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
            b = client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
            with pytest.raises(openai.InternalServerError, match="script ran out"):
                client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
        recorded = proc.requests()
    assert a.choices[0].message.content == "SELECT 1"
    assert (b.choices[0].message.tool_calls or [])[0].function.name == "describe_table"
    assert [r["step"] for r in recorded] == ["reply", "tool_calls", "error"]
    assert recorded[0]["headers"]["authorization"] == "Bearer sk-e2e"
