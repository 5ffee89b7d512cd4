"""The guard's vocabulary: the classes and their ranks, what classify() returns, the rules a
text is judged under, and small readers of pglast's JSON tree (names, relations, objects)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec

from protocol.messages import SqlClass, SqlError, StatementVerdict

CLASSES: Final[tuple[SqlClass, ...]] = ("read", "write", "ddl", "destructive", "forbidden")
READ, WRITE, DDL, DESTRUCTIVE, FORBIDDEN = range(5)


class Classification(msgspec.Struct, frozen=True, kw_only=True):
    """What classify() found; judge() turns it into a Verdict."""

    sql_class: SqlClass
    statements: list[StatementVerdict] = []
    reasons: list[str] = []
    tables: list[str] = []
    confirm_name: str = ""  # the object a typed confirmation asks for
    normalized: str = ""  # literals replaced by $n
    error: SqlError | None = None  # set when sql_class == "invalid"


# =============================================================================================
# Pure core: the per-statement walk
# =============================================================================================


@dataclass(frozen=True)
class Rules:
    """What the guard knows beyond the text: the server it judges for and the [safety] options.

    server_version 0 means unknown: the text is read as the guard's own grammar reads it."""

    server_version: int = 0
    allow_untrusted_languages: bool = False
    allow_sensitive_catalogs: bool = False


TEXT_ONLY: Final = Rules()

# =============================================================================================


def sval(node: Any) -> str:
    if type(node) is dict:
        s = node.get("String")
        if s is not None:
            return str(s.get("sval", ""))
        if "sval" in node:
            return str(node.get("sval", ""))
    return ""


def relname(rv: dict[str, Any]) -> str:
    name = rv.get("relname", "")
    if not name:
        return ""
    schema = rv.get("schemaname")
    catalog = rv.get("catalogname")
    if schema:
        name = f"{schema}.{name}"
    if catalog:
        name = f"{catalog}.{name}"
    return name


_OBJECT_WORDS = {
    "OBJECT_MATVIEW": "MATERIALIZED VIEW",
    "OBJECT_FOREIGN_TABLE": "FOREIGN TABLE",
    "OBJECT_TSCONFIGURATION": "TEXT SEARCH CONFIGURATION",
    "OBJECT_TSDICTIONARY": "TEXT SEARCH DICTIONARY",
    "OBJECT_TSPARSER": "TEXT SEARCH PARSER",
    "OBJECT_TSTEMPLATE": "TEXT SEARCH TEMPLATE",
    "OBJECT_FDW": "FOREIGN DATA WRAPPER",
    "OBJECT_FOREIGN_SERVER": "SERVER",
    "OBJECT_OPCLASS": "OPERATOR CLASS",
    "OBJECT_OPFAMILY": "OPERATOR FAMILY",
    "OBJECT_EVENT_TRIGGER": "EVENT TRIGGER",
    "OBJECT_ACCESS_METHOD": "ACCESS METHOD",
    "OBJECT_STATISTIC_EXT": "STATISTICS",
    "OBJECT_TABCONSTRAINT": "CONSTRAINT",
    "OBJECT_DOMCONSTRAINT": "CONSTRAINT",
    "OBJECT_LARGEOBJECT": "LARGE OBJECT",
    "OBJECT_USER_MAPPING": "USER MAPPING",
}


def object_word(obj: str) -> str:
    if obj in _OBJECT_WORDS:
        return _OBJECT_WORDS[obj]
    return obj.removeprefix("OBJECT_").replace("_", " ") or "OBJECT"


def object_name(o: Any) -> str:
    if type(o) is not dict or len(o) != 1:
        return ""
    ((kind, b),) = o.items()
    if kind == "String":
        return str(b.get("sval", ""))
    if kind == "List":
        return ".".join(sval(i) for i in b.get("items", ()))
    if kind == "ObjectWithArgs":
        return ".".join(sval(i) for i in b.get("objname", ()))
    if kind == "TypeName":
        return ".".join(sval(i) for i in b.get("names", ()))
    return ""


def words_of(node_kind: str) -> str:
    out = []
    for ch in node_kind.removesuffix("Stmt"):
        if ch.isupper() and out:
            out.append(" ")
        out.append(ch.upper())
    return "".join(out)


# =============================================================================================
