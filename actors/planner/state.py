"""The planner actor's state: the config, the model client, caches per profile."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from actors.planner.context import SchemaIndex
from protocol.config import Config
from protocol.messages import Catalog
from protocol.tracing import redact

DEFAULT_MODEL = "gpt-4o-mini"  # when only a key is configured (matches ui.cli.model_label)


ValueIndex = dict[tuple[str, str, str], list[str]]


@dataclass
class PlannerState:
    config: Config
    client: Any = None  # openai.AsyncOpenAI, or None: offline
    model: str = ""
    key_env: str = "OPENAI_API_KEY"
    key_set: bool = False
    indexes: dict[str, tuple[str, SchemaIndex]] = field(default_factory=dict)
    catalogs: dict[str, Catalog] = field(default_factory=dict)  # the last one, per profile
    # profile -> (catalog fingerprint, built at (monotonic s), the offline planner's value index)
    values: dict[str, tuple[str, float, ValueIndex]] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return redact(self.config.model.base_url or "https://api.openai.com/v1")


def model_configured(config: Config) -> bool:
    return bool(config.model.model or os.environ.get(config.model.api_key_env))
