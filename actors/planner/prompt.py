"""prompt: what the planner says to the model, and how it reads the answer (pure).

Receives: nothing (a library of the planner actor).  Replies: nothing.
Restart: not an actor.  Resources: none (sqlglot is imported only to repair MySQL-isms).

Reading an answer (`parse_answer`) accepts, in this order of preference:

1. a JSON object, alone, in a ```json fence, or anywhere in prose (found by a brace scanner that
   respects strings), with keys sql / explanation / assumptions / intent / clarify; a truncated
   object still yields its "sql" string when that string is complete;
2. a fenced SQL block (```sql, ```postgresql, or an untagged fence holding SQL); with several,
   the first one holding SQL is used and the others are noted in the assumptions;
3. bare SQL: the text from the first line that starts a statement to the end of that statement.

Statement ends are found by a scanner that knows quotes, dollar quotes, comments and brackets,
so a multi-CTE query is never cut at a `;` inside a string or a body. Prose is never SQL: a
candidate must start with a statement keyword and not read like an English sentence; otherwise
the answer is `kind="prose"` and the planner asks for one repair, then asks the person.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from protocol.messages import Turn

# -- the scanner ----------------------------------------------------------------------------------

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def split_statements(sql: str) -> list[str]:
    """Top-level statements of a SQL text, each without its `;` (empty ones dropped)."""
    out: list[str] = []
    start = 0
    while start < len(sql):
        end = statement_end(sql, start)
        part = sql[start:end]
        if part.endswith(";"):
            part = part[:-1]  # the terminating `;`
        part = part.strip()
        if _has_code(part):
            out.append(part)
        start = end
    return out


def statement_end(sql: str, start: int = 0) -> int:
    """Index just past the first top-level `;` at or after `start` (len(sql) when none)."""
    i, n, depth = start, len(sql), 0
    while i < n:
        ch = sql[i]
        if ch in "'\"":
            i = _skip_quoted(sql, i, ch)
            continue
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if sql.startswith("/*", i):
            i = _skip_block_comment(sql, i)
            continue
        if ch == "$":
            m = _DOLLAR_TAG.match(sql, i)
            if m and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
                end = sql.find(m.group(0), m.end())
                i = n if end < 0 else end + len(m.group(0))
                continue
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch == ";" and depth == 0:
            return i + 1
        i += 1
    return n


def _skip_quoted(sql: str, i: int, quote: str) -> int:
    j = i + 1
    n = len(sql)
    backslash = quote == "'" and i > 0 and sql[i - 1] in "eE"
    while j < n:
        c = sql[j]
        if backslash and c == "\\":
            j += 2
            continue
        if c == quote:
            if j + 1 < n and sql[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    return n


def _skip_block_comment(sql: str, i: int) -> int:
    depth, j, n = 0, i, len(sql)
    while j < n:
        if sql.startswith("/*", j):
            depth += 1
            j += 2
        elif sql.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    return n


def _has_code(text: str) -> bool:
    """Anything but comments and whitespace."""
    stripped = re.sub(r"--[^\n]*", "", text)
    stripped = re.sub(r"/\*.*?\*/", "", stripped, flags=re.S)
    return bool(stripped.strip())


# -- is it SQL? -----------------------------------------------------------------------------------

_STATEMENT_START = re.compile(
    r"""^\s*(?:\(\s*)*(
        select\b | with\b | insert\s+into\b | update\b | delete\s+from\b | create\b | alter\b
      | drop\b | truncate\b | explain\b | values\s*\( | table\s+[\w".]+\s*;?\s*$ | merge\s+into\b
      | grant\b | revoke\b | comment\s+on\b | analyze\b | vacuum\b | refresh\s+materialized\b
      | reindex\b | cluster\b | begin\b | commit\b | rollback\b | start\s+transaction\b
    )""",
    re.I | re.X,
)
_WITH_CTE = re.compile(
    r"^\s*with\s+(recursive\s+)?(\"[^\"]+\"|[\w$]+)\s*(\([^)]*\)\s*)?as\s*(not\s+)?(materialized\s+)?\(",
    re.I,
)
_LEADING_COMMENTS = re.compile(r"^\s*(?:--[^\n]*\n|/\*.*?\*/\s*)*", re.S)
_PROSE_WORDS = frozenset(
    "i you we it is are was this that should would could please sorry here there which the "
    "because but however unfortunately cannot can't don't need know sure them".split()
)


def looks_like_sql(text: str) -> bool:
    """Starts with a statement keyword and does not read like an English sentence."""
    body = _LEADING_COMMENTS.sub("", text, count=1).strip()
    if not body or not _STATEMENT_START.match(body):
        return False
    if re.match(r"^\s*with\b", body, re.I) and not _WITH_CTE.match(body):
        return False
    first = split_statements(body)[0] if split_statements(body) else body
    code = re.sub(r"'(?:[^']|'')*'", "''", first)  # words inside literals are not prose
    words = re.findall(r"[A-Za-z']+", code.lower())
    if not words:
        return False
    prose = sum(1 for w in words if w in _PROSE_WORDS)
    has_clause = bool(
        re.search(r"\b(from|into|set|table|values|as|where|on|index|view)\b", code, re.I)
    )
    if re.match(r"^\s*select\b", first, re.I) and not has_clause:
        # SELECT without FROM: expressions only ("SELECT 1", "SELECT now()"), not words
        return prose == 0 and len(words) <= 12
    if prose and re.search(r"[A-Za-z)]\.\s*$", code):  # a sentence, not a statement
        return False
    return prose <= max(1, len(words) // 12)


# -- repairs --------------------------------------------------------------------------------------

_MYSQLISMS = (
    re.compile(r"`[^`]+`"),
    re.compile(r"\blimit\s+\d+\s*,\s*\d+", re.I),
    re.compile(r"\b(ifnull|date_format|str_to_date|curdate|datediff|group_concat)\s*\(", re.I),
    re.compile(r"\binterval\s+\d+\s+(day|month|year|hour|minute|week)\b", re.I),
)


def has_mysqlisms(sql: str) -> bool:
    code = re.sub(r"'(?:[^']|'')*'", "''", sql)
    return any(p.search(code) for p in _MYSQLISMS)


def repair_mysqlisms(sql: str) -> tuple[str, bool]:
    """Backticks, LIMIT a, b, IFNULL ... rewritten to PostgreSQL by sqlglot; (sql, changed).

    Only when such a construct is present: a PostgreSQL query is never round-tripped."""
    if not has_mysqlisms(sql):
        return sql, False
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        out = sqlglot.transpile(sql, read="mysql", write="postgres")
    except SqlglotError:
        return sql, False
    if len(out) != 1 or not out[0].strip():
        return sql, False
    return out[0], out[0] != sql


def pretty(sql: str) -> str:
    """sqlglot's pretty print (postgres), or the text unchanged when it cannot parse it."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        out = sqlglot.transpile(sql, read="postgres", write="postgres", pretty=True)
    except SqlglotError:
        return sql
    return out[0] if len(out) == 1 else sql


# -- reading an answer ----------------------------------------------------------------------------


@dataclass
class Answer:
    """What a model reply says, once read."""

    kind: Literal["sql", "clarify", "prose", "empty"]
    sql: str = ""
    explanation: str = ""
    assumptions: list[str] = field(default_factory=list)
    intent: str = ""
    clarify_question: str = ""
    clarify_options: list[str] = field(default_factory=list)
    text: str = ""  # the reply with reasoning blocks removed (for prose answers)
    problem: str = ""  # why it is not usable, for the repair message


_THINK = re.compile(r"<think>.*?(</think>|$)", re.S | re.I)
_FENCE = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.S | re.M
)
_SQL_TAGS = {"sql", "postgresql", "postgres", "pgsql", "psql", "plpgsql", "mysql", ""}


def parse_answer(text: str | None) -> Answer:
    """Read one model reply (the message content). Never raises."""
    raw = _THINK.sub("", text or "").strip()
    if not raw:
        return Answer(kind="empty", problem="The reply was empty.")
    obj, json_problem = _find_json(raw)
    if obj is not None:
        return answer_from_object(obj, raw)
    fences = [(m.group(2).lower(), m.group(3)) for m in _FENCE.finditer(raw)]
    sql_fences = [body.strip() for tag, body in fences if tag in _SQL_TAGS and looks_like_sql(body)]
    if sql_fences:
        prose = _FENCE.sub("", raw).strip()
        notes = (
            [f"The model offered {len(sql_fences)} queries; the first one is used."]
            if len(sql_fences) > 1
            else []
        )
        return _sql_answer(
            sql_fences[0], explanation=_first_sentences(prose), assumptions=notes, raw=raw
        )
    bare = _find_bare_sql(raw)
    if bare:
        sql, before, after = bare
        return _sql_answer(sql, explanation=_first_sentences(before + " " + after), raw=raw)
    if json_problem:
        partial = _partial_sql(raw)
        if partial and looks_like_sql(partial):
            return _sql_answer(partial, raw=raw)
        return Answer(
            kind="prose", text=raw, problem=f"The reply was not valid JSON ({json_problem})."
        )
    return Answer(kind="prose", text=raw, problem="The reply had no SQL in it.")


def answer_from_object(obj: dict[str, Any], raw: str = "") -> Answer:
    """An answer from the JSON object (or the final-answer tool's arguments)."""
    clarify = obj.get("clarify") or obj.get("clarification")
    assumptions = obj.get("assumptions") or []
    if isinstance(assumptions, str):
        assumptions = [assumptions]
    assumptions = [str(a) for a in assumptions if str(a).strip()]
    explanation = str(obj.get("explanation") or "").strip()
    intent = str(obj.get("intent") or "").strip().lower()
    if clarify:
        if isinstance(clarify, str):
            question, options = clarify, []
        elif isinstance(clarify, dict):
            question = str(clarify.get("question") or "").strip()
            options = [str(o) for o in clarify.get("options") or []]
        else:
            question, options = str(clarify), []
        if question:
            return Answer(
                kind="clarify", clarify_question=question, clarify_options=options, text=raw
            )
    sql = obj.get("sql") or obj.get("query") or ""
    if not isinstance(sql, str):
        sql = ""
    sql = _unfence(sql.strip())
    if sql and looks_like_sql(sql):
        return _sql_answer(
            sql, explanation=explanation, assumptions=assumptions, intent=intent, raw=raw
        )
    if sql:
        return Answer(
            kind="prose", text=raw or sql, problem='The "sql" field did not hold a SQL statement.'
        )
    return Answer(
        kind="prose",
        text=explanation or raw,
        problem='The JSON object had neither "sql" nor "clarify".',
    )


def _sql_answer(
    sql: str,
    *,
    explanation: str = "",
    assumptions: list[str] | None = None,
    intent: str = "",
    raw: str = "",
) -> Answer:
    notes = list(assumptions or [])
    statements = split_statements(sql)
    while len(statements) > 1 and re.fullmatch(r"(?i)begin|start\s+transaction", statements[0]):
        statements.pop(0)
    while len(statements) > 1 and re.fullmatch(r"(?i)commit|end", statements[-1]):
        statements.pop()
    if len(statements) > 1:
        notes.append(f"The model wrote {len(statements)} statements; only the first is used.")
    text = statements[0] if statements else sql.strip().rstrip(";").strip()
    fixed, changed = repair_mysqlisms(text)
    if changed:
        notes.append("MySQL syntax in the model's SQL was rewritten for PostgreSQL.")
    return Answer(
        kind="sql", sql=fixed, explanation=explanation, assumptions=notes, intent=intent, text=raw
    )


def _unfence(text: str) -> str:
    m = _FENCE.match(text)
    return m.group(3).strip() if m else text


def _first_sentences(text: str, limit: int = 300) -> str:
    text = " ".join(text.split()).strip(" :")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _find_json(raw: str) -> tuple[dict[str, Any] | None, str]:
    """The first JSON object with an answer key; or (None, why the likeliest one failed)."""
    problem = ""
    candidates: list[str] = []
    stripped = raw.strip()
    if stripped.startswith("{"):
        candidates.append(stripped)
    for m in _FENCE.finditer(raw):
        if m.group(2).lower() in ("json", "") and m.group(3).lstrip().startswith("{"):
            candidates.append(m.group(3))
    candidates.extend(_brace_objects(raw))
    for cand in candidates:
        try:
            obj = json.loads(cand)
        except ValueError as exc:
            if not problem and ('"sql"' in cand or '"clarify"' in cand):
                problem = str(exc)
            continue
        if isinstance(obj, dict) and any(
            k in obj for k in ("sql", "query", "clarify", "clarification")
        ):
            return obj, ""
    if not problem and stripped.startswith("{") and ('"sql"' in raw or '"clarify"' in raw):
        problem = "unterminated object"
    return None, problem


def _brace_objects(text: str) -> list[str]:
    """Balanced {...} spans at top level, skipping braces inside JSON strings."""
    out: list[str] = []
    depth, start, i, n = 0, -1, 0, len(text)
    in_str = False
    while i < n:
        c = text[i]
        if in_str:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                in_str = False
        elif c == '"' and depth > 0:
            in_str = True
        elif c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                out.append(text[start : i + 1])
        i += 1
    return out


_PARTIAL_SQL = re.compile(r'"sql"\s*:\s*"((?:[^"\\]|\\.)*)"', re.S)


def _partial_sql(raw: str) -> str:
    m = _PARTIAL_SQL.search(raw)
    if not m:
        return ""
    try:
        return str(json.loads(f'"{m.group(1)}"')).strip()
    except ValueError:
        return ""


def _find_bare_sql(raw: str) -> tuple[str, str, str] | None:
    """(sql, prose before, prose after) for the first line that starts a statement."""
    offset = 0
    for line in raw.splitlines(keepends=True):
        if _STATEMENT_START.match(line):
            rest = raw[offset:]
            end = statement_end(rest)
            candidate = rest[:end]
            after = rest[end:]
            if end == len(rest):  # no `;`: stop at a blank line followed by prose
                m = re.search(r"\n\s*\n(?=\s*[A-Z][a-z]+\s)", candidate)
                if m and not looks_like_sql(candidate[m.end() :]):
                    candidate, after = candidate[: m.start()], candidate[m.end() :]
            if looks_like_sql(candidate):
                return candidate.strip(), raw[:offset], after
        offset += len(line)
    return None


# -- the prompt -----------------------------------------------------------------------------------

SYSTEM_PROMPT = """\
You turn questions about a PostgreSQL {version} database into one SQL statement.

Rules:
- PostgreSQL syntax only. Use only tables and columns from the schema below or from the tools;
  never invent names. Quote identifiers that contain capitals ("sbTxAmount").
- Exactly one statement. {mode_rule}
- Prefer explicit JOINs on the foreign keys shown; qualify columns when several tables are used.
- For lists without a stated size, add LIMIT 100. Dates: compare with ranges, not text.
- If the question is ambiguous in a way that changes the answer, ask instead of guessing.
- The schema lines read: table(column type [PK] [->referenced_table.column] [comment]).
  {tools_rule}

Answer with one JSON object and nothing else:
{{"sql": "...", "explanation": "one sentence", "assumptions": ["..."], "intent": "read|write|ddl|explain", "clarify": null}}
To ask the person instead: {{"sql": null, "clarify": {{"question": "...", "options": ["...", "..."]}}}}
"""

MODE_RULES = {
    "read-only": "The session is read-only: write a SELECT (or WITH ... SELECT); never modify data.",
    "read-write": "The session may write; still prefer a read unless the question asks for a change.",
}

TOOLS_RULE = (
    "When a table you need is not listed, call list_tables or describe_table before answering; "
    "give the final answer with the answer tool or as the JSON object."
)

MAX_RECENT_TURNS = 6
MAX_PINS = 20
RECENT_CHARS = 2400


def render_memory(recent: list[Turn], pins: list[str]) -> str:
    """Pinned facts and recent turns (question, SQL, outcome), bounded; older turns summarised."""
    parts: list[str] = []
    if pins:
        shown = pins[-MAX_PINS:]
        parts.append("Facts the person pinned (always true for this session):")
        parts.extend(f"- {p.strip()}" for p in shown)
    if recent:
        keep = recent[-MAX_RECENT_TURNS:]
        older = recent[:-MAX_RECENT_TURNS] if len(recent) > MAX_RECENT_TURNS else []
        lines: list[str] = []
        budget = RECENT_CHARS
        for turn in reversed(keep):  # newest first within the budget, printed oldest first
            sql = " ".join(turn.sql.split())
            if len(sql) > 600:
                sql = sql[:599] + "…"
            block = f"- Q: {turn.question.strip()}" + (f"\n  SQL: {sql}" if sql else "")
            if turn.outcome:
                block += f"\n  Result: {turn.outcome}"
            if len(block) > budget:
                older.append(turn)
                continue
            budget -= len(block)
            lines.insert(0, block)
        if older:
            topics = "; ".join(t.question.strip()[:60] for t in older[-8:] if t.question.strip())
            parts.append(f"Earlier in this conversation ({len(older)} more turns): {topics}")
        if lines:
            parts.append(
                "Recent turns (a follow-up like 'now only for 2023' refines the last one):"
            )
            parts.extend(lines)
    return "\n".join(parts)


def build_messages(
    *,
    question: str,
    schema_text: str,
    mode: str = "read-only",
    server_version: int = 0,
    recent: list[Turn] | None = None,
    pins: list[str] | None = None,
    previous_sql: str = "",
    feedback: str = "",
    tools: bool = True,
) -> list[dict[str, Any]]:
    version = f"{server_version // 10000}" if server_version else ""
    system = SYSTEM_PROMPT.format(
        version=version,
        mode_rule=MODE_RULES.get(mode, MODE_RULES["read-only"]),
        tools_rule=TOOLS_RULE if tools else "",
    )
    system += "\nSchema:\n" + schema_text
    memory = render_memory(list(recent or []), list(pins or []))
    if memory:
        system += "\n\n" + memory
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    user = question.strip()
    if previous_sql or feedback:
        user = (
            f"{user}\n\nYour previous SQL for this question failed when it ran:\n{previous_sql.strip()}\n"
            f"PostgreSQL said: {feedback.strip()}\n"
            "Fix the SQL (check the table and column names against the schema) and answer again."
        )
    messages.append({"role": "user", "content": user})
    return messages


REPAIR_PROMPT = (
    "{problem} Reply again with only the JSON object "
    '{{"sql": "...", "explanation": "...", "assumptions": [], "intent": "read", "clarify": null}}, '
    'or {{"sql": null, "clarify": {{"question": "..."}}}} if you need to ask the person.'
)

INVALID_SQL_PROMPT = "That SQL does not parse as PostgreSQL: {error}\nReply again with only the corrected JSON object."


def tool_specs(*, samples: bool) -> list[dict[str, Any]]:
    """OpenAI tool definitions: schema lookups answered from the catalog, and the answer."""

    def fn(
        name: str, description: str, properties: dict[str, Any], required: list[str]
    ) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": name,
                "description": description,
                "parameters": {"type": "object", "properties": properties, "required": required},
            },
        }

    specs = [
        fn(
            "list_tables",
            "List tables and views (name, column count, comment), best matches first.",
            {"pattern": {"type": "string", "description": "words to look for; empty lists all"}},
            [],
        ),
        fn(
            "describe_table",
            "All columns of one table with types, keys, foreign keys, comments and indexes.",
            {"name": {"type": "string", "description": "table or schema.table"}},
            ["name"],
        ),
    ]
    if samples:
        specs.append(
            fn(
                "sample_values",
                "Up to 20 distinct values of one column (to match spellings in the question).",
                {"table": {"type": "string"}, "column": {"type": "string"}},
                ["table", "column"],
            )
        )
    specs.append(
        fn(
            "answer",
            "Give the final answer: one SQL statement, or a clarifying question for the person.",
            {
                "sql": {"type": "string"},
                "explanation": {"type": "string"},
                "assumptions": {"type": "array", "items": {"type": "string"}},
                "intent": {"type": "string", "enum": ["read", "write", "ddl", "explain"]},
                "clarify": {
                    "type": "object",
                    "properties": {
                        "question": {"type": "string"},
                        "options": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
            [],
        )
    )
    return specs
