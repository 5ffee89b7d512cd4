"""What stage 4 builds and stage 5 renders: the query as data, and its filters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from actors.planner.offline.dates import Window
from actors.planner.offline.schema import Column, Table


@dataclass
class Measure:
    fn: str  # count | sum | avg | min | max
    col: Column | None  # None: count(*)
    table: Table
    distinct: bool = False
    expr: exp.Expression | None = None


@dataclass
class Query:
    entity: Table | None = None
    measure: Measure | None = None
    groups: list[tuple[str, Any]] = field(
        default_factory=list
    )  # ("col", Column) | ("entity", Table) | ("part", (unit, Column))
    filters: list[tuple[Table, Filter]] = field(default_factory=list)
    select: list[Column] = field(default_factory=list)
    order: list[tuple[str, Any, bool]] = field(
        default_factory=list
    )  # ("col", Column, desc) | ("measure", None, desc) | ("pk"...)
    limit: int | None = None
    extra_tables: list[Table] = field(default_factory=list)
    having: list[tuple[str, float, float | None]] = field(default_factory=list)


@dataclass
class Compare:
    col: Column
    op: str
    value: float
    upper: float | None  # the upper end of "between"


@dataclass
class IsNull:
    col: Column
    null: bool


@dataclass
class Equals:
    col: Column
    values: list[str]
    negate: bool


@dataclass
class FlagIs:
    col: Column
    value: bool


@dataclass
class InWindow:
    col: Column
    window: Window


# a filter of the query, rendered late (column references depend on the join)
Filter = Compare | IsNull | Equals | FlagIs | InWindow
