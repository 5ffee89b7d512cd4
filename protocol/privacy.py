"""`[privacy] redact_columns`: columns whose values pgask never shows or sends to a model.

Patterns are shell-style globs, case-insensitive, matched against `column`,
`table.column` and `schema.table.column`: `email`, `*.ssn`, `customers.phone`,
`hr.*.salary`. Result columns carry only their name, so on screen a pattern naming a table
matches by its last part (`customers.phone` masks every `phone` column of a result).
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

MASK = "\u2022\u2022\u2022\u2022"  # ••••


def redacted(patterns: list[str], column: str, table: str = "", schema: str = "") -> bool:
    if not patterns:
        return False
    names = [column.lower()]
    if table:
        names.append(f"{table}.{column}".lower())
        if schema:
            names.append(f"{schema}.{table}.{column}".lower())
    return any(fnmatchcase(name, p.lower()) for p in patterns for name in names)


def redacted_result_column(patterns: list[str], column: str) -> bool:
    """A result column (name only): patterns count by their last dotted part as well."""
    return redacted(patterns, column) or redacted([p.rsplit(".", 1)[-1] for p in patterns], column)


_URL_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*):[^@/\s]*@", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)


def redact_secrets(text: str) -> str:
    """Passwords in connection strings (URL `user:pw@` and key=value `password=pw`) masked,
    so that history files, error messages and `ps` never show them."""
    return _KV_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1:***@", text))
