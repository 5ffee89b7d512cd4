"""The edge to the model endpoint: the openai client, one chat completion with announced retries, endpoint errors mapped to PlannerError (the only openai import)."""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass
from typing import Any

import trio

from actors._runtime import Request
from actors.planner.state import PlannerState
from protocol.config import ModelConfig
from protocol.errors import PlannerError
from protocol.messages import (
    PlannerNotice,
)
from protocol.tracing import log, redact

BACKOFF_BASE_S = 0.5


BACKOFF_MAX_S = 8.0


MAX_RETRY_AFTER_S = 60.0


CONTEXT_TOO_LONG = re.compile(
    r"context.length|maximum context|context window|too many tokens|prompt is too long|"
    r"reduce the length|token limit",
    re.I,
)


class ContextTooLong(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ToolsRejected(Exception):
    pass


MALFORMED = object()


class ModelNotFound(Exception):
    pass


class ConnectFailed(PlannerError):
    """llm.unreachable because nothing answered at all (the offline planner may step in)."""

    connect_failed = True


def open_client(model: ModelConfig, key: str) -> Any:
    """The openai.AsyncOpenAI client for [model]; retries are ours, so each can be announced."""
    import openai

    return openai.AsyncOpenAI(
        base_url=model.base_url or None,
        api_key=key or "no-key",  # local servers (Ollama, llama.cpp) accept any key
        max_retries=0,  # retried here, so each retry can be announced
        timeout=model.timeout_s,
    )


def _retry_after(headers: Any) -> float | None:
    """Seconds the server asks to wait (retry-after-ms, retry-after seconds or HTTP date)."""
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / divisor)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        import email.utils

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())
    return None


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Retry-After when given, else 0.5 s * 2^(attempt-1), capped, with 25 % jitter."""
    if retry_after is not None and retry_after > 0:
        return retry_after
    base = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
    return base * (1 - 0.25 * random.random())


def _seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"


@dataclass
class _Retry:
    """A transient failure: how long the server asks to wait, what the notice says, and the
    error raised when no attempt is left."""

    wait: float | None
    what: str
    final: PlannerError


async def complete(
    state: PlannerState,
    req: Request,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None,
) -> Any:
    """One chat completion with retries; returns the response, or MALFORMED."""
    import openai

    mc = state.config.model
    attempts = 1 + max(0, mc.max_retries)
    kwargs: dict[str, Any] = {
        "model": state.model,
        "messages": messages,
        "temperature": mc.temperature,
    }
    if tools:
        kwargs["tools"] = tools
        kwargs["tool_choice"] = "auto"
    for attempt in range(1, attempts + 1):
        started = time.perf_counter()
        try:
            response = await state.client.chat.completions.create(**kwargs)
        except json.JSONDecodeError:
            log.warning("planner.model.malformed", attempt=attempt)
            return MALFORMED
        except openai.APIStatusError as exc:
            retry = _status_failure(state, exc, attempt, attempts, tools=bool(tools))
        except openai.APITimeoutError as exc:
            ms = round((time.perf_counter() - started) * 1000)
            log.warning("planner.model.timed_out", attempt=attempt, ms=ms)
            retry = _timeout_failure(state, exc, attempts)
        except openai.APIConnectionError as exc:
            retry = _connect_failure(state, exc, attempt, attempts)
        except openai.OpenAIError as exc:  # validation of an odd response, and the like
            raise PlannerError(
                f"The model at {state.endpoint} sent a reply pgask could not read.",
                why=redact(str(exc))[:300],
                hint="Check that base_url under [model] points at an OpenAI-compatible /v1 endpoint.",
                code="llm.unparseable",
            ) from None
        else:
            log.info(
                "planner.model.answered",
                attempt=attempt,
                ms=round((time.perf_counter() - started) * 1000, 1),
                tools=bool(tools),
            )
            return response
        if attempt == attempts:
            raise retry.final
        delay = backoff_delay(attempt, retry.wait)
        await req.send(
            PlannerNotice(
                text=f"{retry.what}, retrying in {_seconds(delay)} "
                f"(attempt {attempt + 1} of {attempts})"
            )
        )
        await trio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _status_failure(
    state: PlannerState, exc: Any, attempt: int, attempts: int, *, tools: bool
) -> _Retry:
    """An HTTP error status: raised at once unless it is worth retrying."""
    status = exc.status_code
    detail = redact(f"HTTP {status}: {_error_message(exc)}")
    log.warning("planner.model.failed", status=status, attempt=attempt, detail=detail)
    _raise_for_status(state, exc, status, detail, tools=tools)
    wait = _retry_after(exc.response.headers)
    if wait is not None and wait > MAX_RETRY_AFTER_S:
        raise PlannerError(
            f"The model at {state.endpoint} is rate-limiting pgask.",
            why=f"It asks to wait {wait:.0f} s before the next request.",
            hint="Try again later, or use another model or key under [model].",
            code="llm.rate_limited",
            retryable=True,
            detail=detail,
        ) from None
    what = "model busy" if status == 429 else f"model endpoint error (HTTP {status})"
    return _Retry(wait, what, _final_status_error(state, status, attempts, detail))


def _timeout_failure(state: PlannerState, exc: Exception, attempts: int) -> _Retry:
    final = PlannerError(
        f"The model at {state.endpoint} did not answer within {state.config.model.timeout_s:g} s"
        + (f" ({attempts} attempts)." if attempts > 1 else "."),
        why="The request timed out; local models can take long on a first request.",
        hint="Raise timeout_s under [model], or use a smaller or faster model.",
        code="llm.timeout",
        retryable=True,
        detail=redact(str(exc)),
    )
    return _Retry(None, "model slow to answer", final)


def _connect_failure(state: PlannerState, exc: Exception, attempt: int, attempts: int) -> _Retry:
    cause = redact(str(exc.__cause__ or exc))
    log.warning("planner.model.unreachable", attempt=attempt, detail=cause)
    final = ConnectFailed(
        f"Could not reach the model endpoint at {state.endpoint}.",
        why=f"The connection failed ({cause})"
        + (f" on {attempts} attempts." if attempts > 1 else "."),
        hint="Check that the server is running (for Ollama: `ollama serve`) and base_url under "
        "[model] (or PGASK_BASE_URL / OPENAI_BASE_URL).",
        code="llm.unreachable",
        retryable=True,
        detail=cause,
    )
    return _Retry(None, "model unreachable", final)


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if body.get("message"):
            return str(body["message"])
    return str(getattr(exc, "message", "") or exc)


def _raise_for_status(
    state: PlannerState, exc: Any, status: int, detail: str, *, tools: bool
) -> None:
    """Raise for statuses that are not worth retrying; return for the transient ones."""
    cfg_file = state.config.source or "the config file"
    if status in (401, 403):
        why = (
            f"The key was read from the environment variable {state.key_env}."
            if state.key_set
            else f"No key was sent: the environment variable {state.key_env} is not set."
        )
        raise PlannerError(
            f"The model endpoint at {state.endpoint} rejected the API key (HTTP {status}).",
            why=why,
            hint=f"Export a valid key in {state.key_env}, or name another variable with "
            f"api_key_env under [model] in {cfg_file}.",
            code="llm.auth_failed",
            detail=detail,
        ) from None
    if status == 404:
        raise ModelNotFound(detail)
    message = _error_message(exc)
    code = str(getattr(exc, "code", "") or "")
    if status in (400, 413, 422):
        if code == "context_length_exceeded" or status == 413 or CONTEXT_TOO_LONG.search(message):
            raise ContextTooLong(detail)
        if tools and re.search(r"\btools?\b|function", message, re.I):
            raise ToolsRejected()
    if status in (408, 409, 429) or status >= 500:
        return
    raise PlannerError(
        f"The model endpoint at {state.endpoint} refused the request (HTTP {status}).",
        why=redact(message)[:300],
        hint=f"Check model and base_url under [model] in {cfg_file}.",
        code="llm.bad_request",
        detail=detail,
    ) from None


def _final_status_error(
    state: PlannerState, status: int, attempts: int, detail: str
) -> PlannerError:
    tries = f" ({attempts} attempts)" if attempts > 1 else ""
    if status == 429:
        return PlannerError(
            f"The model at {state.endpoint} is busy: it kept answering 'too many requests'{tries}.",
            why="The endpoint rate-limits this key or model (HTTP 429).",
            hint="Wait a minute and ask again, raise max_retries under [model], or check the plan's quota.",
            code="llm.rate_limited",
            retryable=True,
            detail=detail,
        )
    return PlannerError(
        f"The model at {state.endpoint} failed{tries}: HTTP {status}.",
        why="The endpoint reported a server error each time.",
        hint="Try again later; if it persists, check the endpoint's status or logs, or raise max_retries under [model].",
        code="llm.unreachable",
        retryable=True,
        detail=detail,
    )


async def model_list(state: PlannerState) -> list[str]:
    try:
        with trio.move_on_after(5):
            page = await state.client.models.list()
            return sorted(m.id for m in page.data)[:20]
    except Exception:  # the list is a courtesy: any failure just leaves it out
        pass
    return []
