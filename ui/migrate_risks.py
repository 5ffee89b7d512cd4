"""Migrations from intent: the risks pgask can see in the up SQL, a down when none was given,
and the dbmate file. Pure (no database, no parser import): the input is the guard's
per-statement texts and kinds and the executor's catalog.

Risks, each with the safer alternative:
  not_null_no_default  ADD COLUMN ... NOT NULL without DEFAULT on a table that has rows (fails)
  rewrite              ALTER COLUMN ... TYPE, or ADD COLUMN with a volatile DEFAULT: the table is
                       rewritten under ACCESS EXCLUSIVE
  set_not_null         SET NOT NULL scans the whole table under ACCESS EXCLUSIVE
  lock                 any ALTER TABLE takes ACCESS EXCLUSIVE on a table of N rows (brief unless
                       it rewrites or scans; lock_timeout bounds the wait)
  fk_validate          ADD FOREIGN KEY without NOT VALID checks every row while holding locks
  fk_no_index          a new foreign key whose columns no index leads with (deletes on the
                       parent then scan the child)
  index_blocks_writes  CREATE INDEX without CONCURRENTLY on a large table blocks writes
  unique_constraint    ADD UNIQUE / PRIMARY KEY builds an index under ACCESS EXCLUSIVE
  data_loss            DROP COLUMN / DROP TABLE: the down cannot bring the data back
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

from protocol.messages import Catalog, CatalogTable

LARGE_TABLE_ROWS = 10_000
_VOLATILE = re.compile(
    r"\b(random|gen_random_uuid|uuid_generate_v4|clock_timestamp|timeofday|nextval)\s*\(", re.I
)
_NAME = r'(?:"(?:[^"]|"")+"|[\w$]+)'
_QNAME = rf"{_NAME}(?:\s*\.\s*{_NAME})?"


@dataclass(frozen=True)
class Risk:
    kind: str
    message: str
    alternative: str

    def text(self) -> str:
        return f"{self.message}\n    safer: {self.alternative}"


def _unquote(name: str) -> str:
    name = name.strip()
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


def _split(qname: str) -> tuple[str, str]:
    parts = [p for p in re.findall(_NAME, qname)]
    if len(parts) == 2:
        return _unquote(parts[0]), _unquote(parts[1])
    return "", _unquote(parts[0]) if parts else ""


def find_table(catalog: Catalog | None, qname: str) -> CatalogTable | None:
    if catalog is None:
        return None
    schema, name = _split(qname)
    path = [schema] if schema else (catalog.search_path or ["public"])
    for s in path:
        for t in catalog.tables:
            if t.schema == s and t.name == name:
                return t
    return None


def _rows(t: CatalogTable | None) -> int:
    return max(t.est_rows, 0) if t is not None else 0


def _indexed(
    t: CatalogTable | None,
    cols: list[str],
    new_indexes: list[tuple[str, list[str]]],
    name: str = "",
) -> bool:
    """Does an existing index, or one this migration creates, lead with `cols`?"""
    if t is not None and any(i.columns[: len(cols)] == cols for i in t.indexes):
        return True
    name = t.name if t is not None else name
    return any(tbl == name and c[: len(cols)] == cols for tbl, c in new_indexes)


def risks(statements: list[str], catalog: Catalog | None) -> list[Risk]:
    """Pure: what could go wrong applying `statements` (each one SQL statement) to this catalog."""
    out: list[Risk] = []
    new_indexes: list[tuple[str, list[str]]] = []  # (table, columns) the migration indexes
    for sql in statements:
        if m := re.search(
            rf"\bCREATE\s+(?:UNIQUE\s+)?INDEX\b.*?\bON\s+(?:ONLY\s+)?({_QNAME})\s*(?:USING\s+\w+\s*)?\(([^)]*)\)",
            sql,
            re.I | re.S,
        ):
            _s, tname = _split(m.group(1))
            new_indexes.append(
                (tname, [_unquote(c.split()[0]) for c in m.group(2).split(",") if c.strip()])
            )
    for sql in statements:
        flat = re.sub(r"\s+", " ", sql.strip())
        upper = flat.upper()
        if upper.startswith("ALTER TABLE"):
            out += _alter_table_risks(flat, catalog, new_indexes)
        elif upper.startswith("CREATE TABLE"):
            out += _create_table_risks(flat, new_indexes)
        elif re.match(r"CREATE (?:UNIQUE )?INDEX (?!CONCURRENTLY)", upper):
            out += _create_index_risks(flat, catalog)
        elif re.match(r"DROP TABLE", upper):
            out += _drop_table_risks()
    return out


def _alter_table_risks(
    flat: str, catalog: Catalog | None, new_indexes: list[tuple[str, list[str]]]
) -> list[Risk]:
    out: list[Risk] = []
    m = re.match(rf"ALTER TABLE (?:IF EXISTS )?(?:ONLY )?({_QNAME})", flat, re.I)
    tname = m.group(1) if m else "?"
    t = find_table(catalog, tname)
    n = _rows(t)
    shown = f"{t.schema}.{t.name}" if t else tname
    rewrites = _add_column_risks(flat, t, shown, n, new_indexes, out)
    if re.search(r"\bALTER (?:COLUMN )?\S+ (?:SET DATA )?TYPE\b", flat, re.I):
        rewrites = True
        out.append(
            Risk(
                "rewrite",
                f"ALTER COLUMN ... TYPE usually rewrites {shown} ({n:,} rows) and its indexes "
                "under an ACCESS EXCLUSIVE lock (reads and writes wait).",
                "add a new column of the new type, backfill it in batches, switch readers, "
                "then drop the old column",
            )
        )
    if re.search(r"\bSET NOT NULL\b", flat, re.I):
        out.append(
            Risk(
                "set_not_null",
                f"SET NOT NULL scans all {n:,} rows of {shown} while holding ACCESS EXCLUSIVE.",
                "ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT; "
                "then SET NOT NULL uses the validated check and does not scan",
            )
        )
    if fk := re.search(
        r"\bADD (?:CONSTRAINT \S+ )?FOREIGN KEY \(([^)]*)\) REFERENCES (\S+)", flat, re.I
    ):
        cols = [_unquote(c) for c in fk.group(1).split(",")]
        if not re.search(r"\bNOT VALID\b", flat, re.I) and n > 0:
            out.append(
                Risk(
                    "fk_validate",
                    f"ADD FOREIGN KEY checks all {n:,} rows of {shown} while locking it and the "
                    "referenced table against writes.",
                    "ADD ... NOT VALID (instant), then ALTER TABLE ... VALIDATE CONSTRAINT "
                    "(does not block writes)",
                )
            )
        if not _indexed(t, cols, new_indexes):
            out.append(_fk_no_index(shown, cols, fk.group(2)))
    if re.search(r"\bADD (?:CONSTRAINT \S+ )?(?:UNIQUE|PRIMARY KEY)\b", flat, re.I) and n:
        out.append(
            Risk(
                "unique_constraint",
                f"ADD UNIQUE/PRIMARY KEY builds an index on {shown} ({n:,} rows) under ACCESS "
                "EXCLUSIVE.",
                "CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... USING INDEX",
            )
        )
    if re.search(r"\bDROP (?:COLUMN )?(?!CONSTRAINT|DEFAULT|NOT)\S+", flat, re.I):
        out.append(
            Risk(
                "data_loss",
                f"DROP COLUMN removes that column's data from {shown}; the down migration can "
                "add the column back, not its values.",
                "take a backup first (pgask backup), or stop writing the column and drop it "
                "in a later release",
            )
        )
    if not rewrites and n >= LARGE_TABLE_ROWS:
        out.append(
            Risk(
                "lock",
                f"ALTER TABLE takes an ACCESS EXCLUSIVE lock on {shown} ({n:,} rows); it waits "
                "behind any running query on it, and everything else waits behind it.",
                "run it at a quiet time; pgask sets lock_timeout so it gives up instead of "
                "queueing everyone",
            )
        )
    return out


def _add_column_risks(
    flat: str,
    t: CatalogTable | None,
    shown: str,
    n: int,
    new_indexes: list[tuple[str, list[str]]],
    out: list[Risk],
) -> bool:
    """ADD COLUMN: NOT NULL without a default, a volatile default, an unindexed foreign key;
    whether the table is rewritten."""
    rewrites = False
    for add in re.finditer(rf"ADD (?:COLUMN )?(?:IF NOT EXISTS )?({_NAME}) ([^,]*)", flat, re.I):
        col, rest = _unquote(add.group(1)), add.group(2)
        if col.upper() in ("CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK"):
            continue
        if re.search(r"\bNOT NULL\b", rest, re.I) and not re.search(r"\bDEFAULT\b", rest, re.I):
            if n > 0:
                out.append(
                    Risk(
                        "not_null_no_default",
                        f"ADD COLUMN {col} NOT NULL without a DEFAULT fails on {shown}, which has"
                        f" about {n:,} rows.",
                        "add it nullable, backfill it in batches, then SET NOT NULL (or give it "
                        "a constant DEFAULT, which PostgreSQL 11+ adds without a rewrite)",
                    )
                )
        if (d := re.search(r"\bDEFAULT (.*)", rest, re.I)) and _VOLATILE.search(d.group(1)):
            rewrites = True
            out.append(
                Risk(
                    "rewrite",
                    f"ADD COLUMN {col} with a volatile DEFAULT rewrites all of {shown} "
                    f"({n:,} rows) under an ACCESS EXCLUSIVE lock.",
                    "add the column without a default, backfill in batches, then SET DEFAULT "
                    "for new rows",
                )
            )
        if ref := re.search(rf"\bREFERENCES ({_QNAME})", rest, re.I):
            if not _indexed(t, [col], new_indexes):
                out.append(_fk_no_index(shown, [col], ref.group(1)))
    return rewrites


def _create_table_risks(flat: str, new_indexes: list[tuple[str, list[str]]]) -> list[Risk]:
    out: list[Risk] = []
    m = re.match(rf"CREATE TABLE (?:IF NOT EXISTS )?({_QNAME})", flat, re.I)
    shown = m.group(1) if m else "the new table"
    for ref in re.finditer(rf"({_NAME}) [^,(]*?\bREFERENCES ({_QNAME})", flat, re.I):
        col = _unquote(ref.group(1))
        if not _indexed(None, [col], new_indexes, _split(shown)[1]):
            out.append(_fk_no_index(shown, [col], ref.group(2)))
    return out


def _create_index_risks(flat: str, catalog: Catalog | None) -> list[Risk]:
    out: list[Risk] = []
    m = re.search(rf"\bON (?:ONLY )?({_QNAME})", flat, re.I)
    t = find_table(catalog, m.group(1)) if m else None
    if t is not None and _rows(t) >= LARGE_TABLE_ROWS:
        out.append(
            Risk(
                "index_blocks_writes",
                f"CREATE INDEX blocks writes to {t.schema}.{t.name} ({_rows(t):,} rows) while it"
                " builds.",
                "CREATE INDEX CONCURRENTLY (pgask index create does this by table size; it "
                "cannot run inside the migration's transaction)",
            )
        )
    return out


def _drop_table_risks() -> list[Risk]:
    out: list[Risk] = []
    out.append(
        Risk(
            "data_loss",
            "DROP TABLE deletes the table and its rows; the down migration can recreate the "
            "table, not its data.",
            "take a backup first (pgask backup), or rename it and drop it later",
        )
    )
    return out


def _fk_no_index(table: str, cols: list[str], ref: str) -> Risk:
    joined = ", ".join(cols)
    return Risk(
        "fk_no_index",
        f"The new foreign key {table}({joined}) -> {ref} has no index on {joined}: every delete or "
        f"key update on {ref} scans {table}.",
        f"CREATE INDEX CONCURRENTLY ON {table} ({joined}) (pgask index create {table} "
        f"{' '.join(cols)})",
    )


def derive_down(statements: list[str]) -> list[str] | None:
    """A down for the simple shapes (reverse order), or None when pgask cannot say how."""
    downs: list[str] = []
    for sql in statements:
        flat = re.sub(r"\s+", " ", sql.strip().rstrip(";"))
        if m := re.match(rf"CREATE TABLE (?:IF NOT EXISTS )?({_QNAME})", flat, re.I):
            downs.append(f"DROP TABLE {m.group(1)}")
        elif m := re.match(
            rf"CREATE (?:UNIQUE )?INDEX (CONCURRENTLY )?(?:IF NOT EXISTS )?({_NAME}) ON (?:ONLY )?({_QNAME})",
            flat,
            re.I,
        ):
            schema, _t = _split(m.group(3))
            name = f"{m.group(3).split('.')[0].strip()}.{m.group(2)}" if schema else m.group(2)
            downs.append(f"DROP INDEX {m.group(1) or ''}{name}".replace("  ", " "))
        elif m := re.match(
            rf"ALTER TABLE (?:IF EXISTS )?(?:ONLY )?({_QNAME}) ADD (?:COLUMN )?(?:IF NOT EXISTS )?({_NAME}) ",
            flat,
            re.I,
        ):
            if m.group(2).upper() in ("CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK"):
                return None
            downs.append(f"ALTER TABLE {m.group(1)} DROP COLUMN {m.group(2)}")
        else:
            return None
    return list(reversed(downs))


# -- dbmate files -------------------------------------------------------------------------------


def slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "_".join(words)[:60].strip("_") or "migration"


def dbmate_text(up: list[str], down: list[str], *, intent: str = "") -> str:
    """A dbmate migration: `-- migrate:up` / `-- migrate:down`; `transaction:false` when a
    statement cannot run in a transaction (CREATE/DROP INDEX CONCURRENTLY)."""

    def section(tag: str, stmts: list[str]) -> str:
        conc = any(re.search(r"\bCONCURRENTLY\b", s, re.I) for s in stmts)
        head = f"-- migrate:{tag}" + (" transaction:false" if conc else "")
        body = "\n".join(s.strip().rstrip(";") + ";" for s in stmts)
        return f"{head}\n{body}\n"

    up_text = section("up", up)
    if intent.strip():  # after the marker: dbmate wants the file to open with it
        head, body = up_text.split("\n", 1)
        up_text = f"{head}\n-- pgask: {' '.join(intent.split())}\n{body}"
    return up_text + "\n" + section("down", down)


def parse_dbmate(text: str) -> tuple[str, str]:
    """(up text, down text) of a dbmate file."""
    up = re.search(r"^-- migrate:up[^\n]*\n(.*?)(?=^-- migrate:down|\Z)", text, re.M | re.S)
    down = re.search(r"^-- migrate:down[^\n]*\n(.*)\Z", text, re.M | re.S)
    return (up.group(1).strip() if up else ""), (down.group(1).strip() if down else "")


def migration_filename(intent: str, when: dt.datetime | None = None) -> str:
    when = when or dt.datetime.now(dt.UTC)
    return f"{when.strftime('%Y%m%d%H%M%S')}_{slug(intent)}.sql"


def write_migration(directory: Path, name: str, text: str) -> Path:
    """Write atomically; never overwrite (a second one in the same second gets a suffix)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)  # migrations may name private data
    path = directory / name
    n = 1
    while path.exists():
        n += 1
        path = directory / name.replace(".sql", f"_{n}.sql")
    tmp = path.with_suffix(".sql.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    tmp.replace(path)
    return path
