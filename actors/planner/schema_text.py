"""The schema as text a model reads: one line per table, or every detail of one table (pure).

One line per table::

    orders(id int PK, customer_id int ->customers.id, status order_status{new|paid},
           total numeric(12,2) [in cents]) -- Customer orders; ~12k rows
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol.messages import CatalogColumn, CatalogTable

MAX_ENUM_VALUES = 12


COMMENT_CHARS = 80


_TYPE_ABBREV = (
    ("timestamp with time zone", "timestamptz"),
    ("timestamp without time zone", "timestamp"),
    ("time with time zone", "timetz"),
    ("time without time zone", "time"),
    ("character varying", "varchar"),
    ("character", "char"),
    ("double precision", "float8"),
    ("integer", "int"),
    ("boolean", "bool"),
)


def short_type(type_name: str) -> str:
    t = type_name
    for long, short in _TYPE_ABBREV:
        if t.startswith(long):
            t = short + t[len(long) :]
            break
    return t


def trim(text: str, n: int = COMMENT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def qualified_name(table: CatalogTable, qualified: bool) -> str:
    return f"{table.schema}.{table.name}" if qualified else table.name


def _fk_refs(table: CatalogTable, qualified: bool) -> tuple[dict[str, str], list[str]]:
    """Single-column FKs by column (`->customers.id`), and composite ones as trailing text."""
    single: dict[str, str] = {}
    composite: list[str] = []
    for fk in table.foreign_keys:
        ref = f"{fk.ref_schema}.{fk.ref_table}" if qualified else fk.ref_table
        if len(fk.columns) == 1:
            single[fk.columns[0]] = f"->{ref}.{fk.ref_columns[0]}"
        else:
            composite.append(f"FK ({','.join(fk.columns)})->{ref}({','.join(fk.ref_columns)})")
    return single, composite


def render_column(
    col: CatalogColumn, *, pk: bool, ref: str = "", comments: bool = True, enums: bool = True
) -> str:
    parts = [f"{col.name} {short_type(col.type_name)}"]
    if enums and col.enum_values:
        shown = col.enum_values[:MAX_ENUM_VALUES]
        more = "|…" if len(col.enum_values) > MAX_ENUM_VALUES else ""
        parts[0] += "{" + "|".join(shown) + more + "}"
    if pk:
        parts.append("PK")
    if ref:
        parts.append(ref)
    if comments and col.comment:
        parts.append(f"[{trim(col.comment, 60)}]")
    return " ".join(parts)


def _rows_label(n: int) -> str:
    if n < 0:
        return ""
    if n < 1000:
        return f"~{n} rows"
    if n < 1_000_000:
        return f"~{n / 1000:.0f}k rows"
    return f"~{n / 1_000_000:.1f}M rows"


def render_table(
    table: CatalogTable,
    *,
    qualified: bool = False,
    columns: Sequence[str] | None = None,
) -> str:
    """One line: `name(col type PK, col type ->ref.col, ...) -- comment; ~N rows`.

    `columns` limits (and orders) the columns shown; the rest are counted as `+N more`.
    """
    pk = set(table.primary_key) if len(table.primary_key) == 1 else set()
    single, composite = _fk_refs(table, qualified)
    by_name = {c.name: c for c in table.columns}
    chosen = [by_name[c] for c in columns if c in by_name] if columns is not None else table.columns
    cols = [render_column(c, pk=c.name in pk, ref=single.get(c.name, "")) for c in chosen]
    hidden = len(table.columns) - len(chosen)
    if hidden > 0:
        cols.append(f"+{hidden} more")
    if len(table.primary_key) > 1:
        cols.append(f"PK ({','.join(table.primary_key)})")
    cols.extend(composite)
    prefix = "" if table.kind in ("table", "partitioned") else f"{table.kind} "
    line = f"{prefix}{qualified_name(table, qualified)}({', '.join(cols)})"
    notes = [n for n in (trim(table.comment), _rows_label(table.est_rows)) if n]
    if notes:
        line += " -- " + "; ".join(notes)
    return line


def describe_table(table: CatalogTable, *, qualified: bool = True) -> str:
    """Everything about one table, for the `describe_table` tool: one line per column."""
    name = qualified_name(table, qualified)
    lines = [f"{table.kind} {name}" + (f" -- {table.comment}" if table.comment else "")]
    if table.est_rows >= 0:
        lines.append(f"  estimated rows: {table.est_rows}")
    single, composite = _fk_refs(table, qualified)
    pk = set(table.primary_key) if len(table.primary_key) == 1 else set()
    for col in table.columns:
        text = render_column(col, pk=col.name in pk, ref=single.get(col.name, ""))
        extra = []
        if not col.nullable:
            extra.append("NOT NULL")
        if col.default:
            extra.append(f"DEFAULT {trim(col.default, 40)}")
        lines.append("  " + text + (" " + " ".join(extra) if extra else ""))
    if len(table.primary_key) > 1:
        lines.append(f"  PRIMARY KEY ({', '.join(table.primary_key)})")
    for uk in table.unique_keys:
        lines.append(f"  UNIQUE ({', '.join(uk)})")
    lines.extend(f"  {c}" for c in composite)
    for ix in table.indexes:
        if not ix.primary:
            lines.append(f"  index {ix.name}: {trim(ix.definition, 160)}")
    return "\n".join(lines)
