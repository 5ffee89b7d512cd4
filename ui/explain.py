"""EXPLAIN (FORMAT JSON) -> a readable tree and a short, deterministic diagnosis.

Pure and light (standard library only): the CLI (`pgask explain`) and the terminal UI
(`/explain`) both call it, and the planner may add its own reading on top.

    plan = parse_plan(text)            # the server's JSON text, exactly as EXPLAIN printed it
    print(render_tree(plan))           # one line per node, children drawn with ├─ └─
    for f in diagnose(plan): print(f.text())

Figures per node: estimated rows vs actual rows (per loop, as PostgreSQL reports them, times
loops when a node ran more than once), the node's own time (inclusive time minus its
children's, so the expensive nodes stand out), and buffers (hit / read / temp written; these
are inclusive, as PostgreSQL reports them).

Diagnosis rules, in this order (each names the node and gives a concrete next step):
  expensive      the nodes taking the largest share of the time (or of the cost, without ANALYZE)
  seq_scan       a sequential scan of a large table (>= 10,000 rows read) whose filter keeps at
                 most 10% of them: an index on the filtered columns
  misestimate    actual rows off the estimate by 10x or more (at least 100 rows on one side):
                 ANALYZE the table; for several columns in one filter, extended statistics
  sort_spill     a sort that went to disk (external merge): raise work_mem or index the key
  hash_spill     a hash split into several batches: raise work_mem
  nested_loop    a nested loop whose inner side ran >= 1,000 times: an index on the join key,
                 or fresher statistics so the planner picks a hash join
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from protocol.sqltext import quote_ident

SEQ_SCAN_MIN_ROWS = 10_000
SEQ_SCAN_MAX_KEPT = 0.10
MISESTIMATE_FACTOR = 10.0
MISESTIMATE_MIN_ROWS = 100
NESTED_LOOP_MIN_LOOPS = 1_000
EXPENSIVE_MIN_SHARE = 0.20
EXPENSIVE_TOP = 3


@dataclass
class PlanNode:
    """One node of a plan, with the figures the tree and the rules use."""

    node_type: str
    raw: dict[str, Any]
    children: list[PlanNode] = field(default_factory=list)
    depth: int = 0
    index: int = 0  # pre-order position, 0 = the root
    parallel: bool = False  # under a Gather: loops are workers running at the same time

    @property
    def relation(self) -> str:
        rel = self.raw.get("Relation Name", "")
        schema = self.raw.get("Schema", "")
        return f"{schema}.{rel}" if schema and rel else rel

    @property
    def est_rows(self) -> float:
        return float(self.raw.get("Plan Rows", 0) or 0)

    @property
    def analyzed(self) -> bool:
        return "Actual Rows" in self.raw

    @property
    def loops(self) -> int:
        return int(self.raw.get("Actual Loops", 1) or 0)

    @property
    def actual_rows(self) -> float:
        """Rows per loop, as PostgreSQL reports them."""
        return float(self.raw.get("Actual Rows", 0) or 0)

    @property
    def total_ms(self) -> float:
        """Inclusive time over all loops."""
        per_loop = float(self.raw.get("Actual Total Time", 0) or 0)
        return per_loop if self.parallel else per_loop * max(self.loops, 1)

    @property
    def self_ms(self) -> float:
        return max(0.0, self.total_ms - sum(c.total_ms for c in self._timed_children()))

    @property
    def self_cost(self) -> float:
        total = float(self.raw.get("Total Cost", 0) or 0)
        return max(0.0, total - sum(float(c.raw.get("Total Cost", 0) or 0) for c in self.children))

    def _timed_children(self) -> list[PlanNode]:
        # InitPlan/SubPlan children run inside the parent; all children count the same here
        return self.children

    def label(self) -> str:
        """`Seq Scan on public.orders o`, `Index Scan using orders_pkey on orders`, `Hash Join`."""
        text = self.node_type
        if self.raw.get("Parallel Aware") and not text.startswith("Parallel"):
            text = f"Parallel {text}"
        if self.raw.get("Strategy") and self.node_type == "Aggregate":
            text = {"Hashed": "HashAggregate", "Sorted": "GroupAggregate"}.get(
                self.raw["Strategy"], text
            )
        if self.raw.get("Join Type") and self.raw["Join Type"] != "Inner":
            text += f" ({self.raw['Join Type']})"
        if idx := self.raw.get("Index Name"):
            text += f" using {idx}"
        if rel := self.relation:
            alias = self.raw.get("Alias", "")
            text += f" on {rel}" + (
                f" {alias}" if alias and alias != self.raw.get("Relation Name") else ""
            )
        elif name := self.raw.get("CTE Name") or self.raw.get("Function Name"):
            text += f" on {name}"
        if rel_of := self.raw.get("Parent Relationship"):
            if rel_of in ("InitPlan", "SubPlan"):
                text = f"[{self.raw.get('Subplan Name', rel_of)}] {text}"
        return text

    def walk(self) -> list[PlanNode]:
        out = [self]
        for c in self.children:
            out.extend(c.walk())
        return out


@dataclass
class ExplainResult:
    root: PlanNode
    planning_ms: float | None = None
    execution_ms: float | None = None

    @property
    def analyzed(self) -> bool:
        return self.root.analyzed

    def nodes(self) -> list[PlanNode]:
        return self.root.walk()


@dataclass(frozen=True)
class Finding:
    """One diagnosis: which rule, which node, what is wrong, what to do."""

    rule: str
    node: str  # the node's label
    node_index: int
    message: str
    suggestion: str
    relation: str = ""
    columns: tuple[str, ...] = ()

    def text(self) -> str:
        return f"{self.message}\n  → {self.suggestion}"


class ExplainFormatError(ValueError):
    """The text is not an EXPLAIN (FORMAT JSON) plan."""


def parse_plan(text: str | list[Any] | dict[str, Any]) -> ExplainResult:
    """The server's EXPLAIN (FORMAT JSON) output (text or already decoded) as a tree."""
    data: Any = json.loads(text) if isinstance(text, str) else text
    if isinstance(data, list):
        if not data:
            raise ExplainFormatError("the EXPLAIN output is an empty list")
        data = data[0]
    if not isinstance(data, dict) or not isinstance(data.get("Plan"), dict):
        raise ExplainFormatError('the EXPLAIN output has no "Plan" object')
    counter = [0]

    def build(raw: dict[str, Any], depth: int, parallel: bool) -> PlanNode:
        node = PlanNode(str(raw.get("Node Type", "?")), raw, depth=depth, index=counter[0])
        node.parallel = parallel
        counter[0] += 1
        below = parallel or node.node_type in ("Gather", "Gather Merge")
        node.children = [build(c, depth + 1, below) for c in raw.get("Plans", []) or []]
        return node

    return ExplainResult(
        root=build(data["Plan"], 0, False),
        planning_ms=data.get("Planning Time"),
        execution_ms=data.get("Execution Time"),
    )


# -- the tree ---------------------------------------------------------------------------------


def _n(x: float) -> str:
    return f"{x:,.0f}" if x >= 10 or x == int(x) else f"{x:,.1f}"


def _ms(x: float) -> str:
    return f"{x:,.1f} ms" if x >= 1 else f"{x:.3f} ms"


def _figures(node: PlanNode, total_ms: float) -> str:
    parts: list[str] = []
    if node.analyzed:
        loops = node.loops
        if loops == 0:
            parts.append(f"rows est {_n(node.est_rows)}, never executed")
        else:
            rows = f"rows est {_n(node.est_rows)} → actual {_n(node.actual_rows)}"
            if loops > 1:
                rows += f" ×{loops:,} loops"
            parts.append(rows)
            share = f" ({min(node.self_ms / total_ms, 1):.0%})" if total_ms > 0 else ""
            parts.append(f"self {_ms(node.self_ms)}{share}")
    else:
        parts.append(f"rows est {_n(node.est_rows)}")
        parts.append(f"cost {float(node.raw.get('Total Cost', 0) or 0):,.2f}")
    hit = int(node.raw.get("Shared Hit Blocks", 0) or 0)
    read = int(node.raw.get("Shared Read Blocks", 0) or 0)
    temp = int(node.raw.get("Temp Written Blocks", 0) or 0)
    if hit or read or temp:
        buf = f"buffers hit {hit:,} read {read:,}"
        if temp:
            buf += f" temp {temp:,}"
        parts.append(buf)
    return ", ".join(parts)


_DETAIL_KEYS = (
    ("Index Cond", "Index Cond"),
    ("Recheck Cond", "Recheck Cond"),
    ("Hash Cond", "Hash Cond"),
    ("Merge Cond", "Merge Cond"),
    ("Join Filter", "Join Filter"),
    ("Filter", "Filter"),
)


def _details(node: PlanNode) -> list[str]:
    raw = node.raw
    out = []
    for key, label in _DETAIL_KEYS:
        if key in raw:
            line = f"{label}: {raw[key]}"
            removed = raw.get(
                "Rows Removed by Filter" if key == "Filter" else "Rows Removed by Join Filter"
            )
            if key in ("Filter", "Join Filter") and removed:
                line += f"  (removed {_n(float(removed) * max(node.loops, 1))} rows)"
            out.append(line)
    if "Sort Key" in raw:
        line = f"Sort Key: {', '.join(raw['Sort Key'])}"
        if "Sort Method" in raw:
            line += f"  ({raw['Sort Method']}, {raw.get('Sort Space Used', '?')} kB"
            line += f" {raw.get('Sort Space Type', '').lower()})"
        out.append(line)
    if int(raw.get("Hash Batches", 1) or 1) > 1:
        out.append(
            f"Hash: {raw['Hash Batches']} batches, peak memory {raw.get('Peak Memory Usage', '?')} kB"
        )
    if "Workers Launched" in raw:
        out.append(f"Workers: {raw['Workers Launched']} of {raw.get('Workers Planned', '?')}")
    return out


def render_tree(result: ExplainResult, *, width: int = 0) -> str:
    """The plan as an indented tree; `width` > 0 cuts long lines to that many characters."""
    total = result.root.total_ms if result.analyzed else 0.0
    lines: list[str] = []

    def emit(node: PlanNode, prefix: str, child_prefix: str) -> None:
        lines.append(f"{prefix}{node.label()}  [{_figures(node, total)}]")
        for d in _details(node):
            lines.append(f"{child_prefix}{'│ ' if node.children else '  '}  {d}")
        for i, child in enumerate(node.children):
            last = i == len(node.children) - 1
            emit(
                child,
                child_prefix + ("└─ " if last else "├─ "),
                child_prefix + ("   " if last else "│  "),
            )

    emit(result.root, "", "")
    footer = []
    if result.planning_ms is not None:
        footer.append(f"planning {_ms(float(result.planning_ms))}")
    if result.execution_ms is not None:
        footer.append(f"execution {_ms(float(result.execution_ms))}")
    if footer:
        lines.append(", ".join(footer))
    if width > 0:
        lines = [ln if len(ln) <= width else ln[: width - 1] + "…" for ln in lines]
    return "\n".join(lines) + "\n"


# -- the diagnosis ------------------------------------------------------------------------------

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_COLUMN_IN_COND = re.compile(
    rf"(?<![\w.\"'])(?:{_IDENT}\.)?({_IDENT})\s*(?:=|<>|!=|<=|>=|<|>|~~\*?|!~~|IS\s|IN\s|=\s*ANY)",
    re.IGNORECASE,
)
_NOT_COLUMNS = {"and", "or", "not", "true", "false", "null", "any", "all"}


def filter_columns(condition: str) -> list[str]:
    """Column names compared in a filter such as `((a = 5) AND (b = 5))`, in order, unique."""
    stripped = re.sub(r"'(?:[^']|'')*'", "''", condition)  # literals never name columns
    out: list[str] = []
    for m in _COLUMN_IN_COND.finditer(stripped):
        name = m.group(1)
        name = name[1:-1].replace('""', '"') if name.startswith('"') else name
        if name.lower() not in _NOT_COLUMNS and name not in out:
            out.append(name)
    return out


def _nearest_relation(node: PlanNode) -> str:
    for n in node.walk():
        if n.relation:
            return n.relation
    return ""


def diagnose(result: ExplainResult) -> list[Finding]:
    """Deterministic findings, in rule order, each with a concrete suggestion."""
    nodes = result.nodes()
    out: list[Finding] = []
    out.extend(_expensive(result, nodes))
    for node in nodes:
        if f := _seq_scan(node):
            out.append(f)
    for node in nodes:
        if f := _misestimate(node):
            out.append(f)
    for node in nodes:
        out.extend(_spills(node))
    for node in nodes:
        if f := _nested_loop(node):
            out.append(f)
    return out


def _expensive(result: ExplainResult, nodes: list[PlanNode]) -> list[Finding]:
    if result.analyzed:
        total = result.root.total_ms
        weight = {n.index: n.self_ms for n in nodes}
        unit = "of the time"
    else:
        # a Limit's cost is below its children's: share the sum of the nodes' own costs
        weight = {n.index: n.self_cost for n in nodes}
        total = sum(weight.values())
        unit = "of the estimated cost"
    if total <= 0 or len(nodes) < 2:
        return []
    weight = {k: min(v, total) for k, v in weight.items()}
    ranked = sorted(nodes, key=lambda n: (-weight[n.index], n.index))[:EXPENSIVE_TOP]
    out = []
    for n in ranked:
        share = weight[n.index] / total
        if share < EXPENSIVE_MIN_SHARE:
            continue
        figure = _ms(weight[n.index]) + ", " if result.analyzed else ""
        out.append(
            Finding(
                rule="expensive",
                node=n.label(),
                node_index=n.index,
                message=f"{n.label()} takes {figure}{share:.0%} {unit}.",
                suggestion=_expensive_hint(n),
                relation=n.relation,
            )
        )
    return out


def _expensive_hint(n: PlanNode) -> str:
    t = n.node_type
    if "Seq Scan" in t:
        return (
            "Reading the whole table dominates: an index on the columns the WHERE filters "
            "or joins on avoids it, or narrow the WHERE."
        )
    if t == "Sort":
        return (
            "Sorting dominates: an index matching the ORDER BY avoids it, or a LIMIT shortens it."
        )
    if "Join" in t or t == "Nested Loop":
        return "The join dominates: check the join keys are indexed and the estimates below."
    if t in ("Hash", "Aggregate", "HashAggregate"):
        return "Building the hash/aggregate dominates: fewer input rows (filter earlier) help most."
    return "This is where the time goes; start tuning here."


def _seq_scan(node: PlanNode) -> Finding | None:
    if "Seq Scan" not in node.node_type or "Filter" not in node.raw or not node.analyzed:
        return None
    loops = max(node.loops, 1)
    kept = node.actual_rows * loops
    removed = float(node.raw.get("Rows Removed by Filter", 0) or 0) * loops
    scanned = kept + removed
    if scanned < SEQ_SCAN_MIN_ROWS or kept / scanned > SEQ_SCAN_MAX_KEPT:
        return None
    cols = filter_columns(str(node.raw["Filter"]))
    rel = node.relation or node.raw.get("Relation Name", "the table")
    idx_cols = ", ".join(quote_ident(c) for c in cols[:3]) or "<filtered columns>"
    return Finding(
        rule="seq_scan",
        node=node.label(),
        node_index=node.index,
        message=(
            f"Sequential scan on {rel} reads {_n(scanned)} rows to keep {_n(kept)} "
            f"({kept / scanned:.2%}) with filter {node.raw['Filter']}."
        ),
        suggestion=(
            f"An index on {rel} ({idx_cols}) lets PostgreSQL read only the matching rows: "
            f"pgask index create {rel} {' '.join(cols[:3]) or '<columns>'}"
        ),
        relation=rel,
        columns=tuple(cols),
    )


_PASS_THROUGH = {
    "Gather",
    "Gather Merge",
    "Materialize",
    "Hash",
    "Sort",
    "Limit",
    "Memoize",
    "Incremental Sort",
    "Unique",
}


def _misestimate(node: PlanNode) -> Finding | None:
    # a pass-through node repeats its child's estimate: report the child only
    if not node.analyzed or node.loops == 0 or node.node_type in _PASS_THROUGH:
        return None
    est, actual = node.est_rows, node.actual_rows
    if max(est, actual) < MISESTIMATE_MIN_ROWS:
        return None
    factor = max(est, actual) / max(min(est, actual), 1.0)
    if factor < MISESTIMATE_FACTOR:
        return None
    rel = _nearest_relation(node)
    direction = "under" if actual > est else "over"
    cond = str(node.raw.get("Filter") or node.raw.get("Index Cond") or "")
    cols = filter_columns(cond) if cond else []
    suggestion = f"Run ANALYZE {rel or '<table>'} so the planner's statistics are current"
    if len(cols) >= 2 and rel:
        name = re.sub(r"\W+", "_", f"{rel.rsplit('.', 1)[-1]}_{'_'.join(cols[:3])}_stats")
        suggestion += (
            f"; if it persists, the filtered columns are probably correlated: "
            f"CREATE STATISTICS {name} (dependencies, mcv) ON {', '.join(quote_ident(c) for c in cols[:8])} "
            f"FROM {rel}; then ANALYZE {rel}"
        )
    return Finding(
        rule="misestimate",
        node=node.label(),
        node_index=node.index,
        message=(
            f"{node.label()}: the planner {direction}estimated the rows {factor:,.0f}× "
            f"(estimated {_n(est)}, actual {_n(actual)}"
            + (f" per loop, {node.loops:,} loops" if node.loops > 1 else "")
            + ")."
        ),
        suggestion=suggestion + ".",
        relation=rel,
        columns=tuple(cols),
    )


def _spills(node: PlanNode) -> list[Finding]:
    raw = node.raw
    out = []
    method = str(raw.get("Sort Method", ""))
    if raw.get("Sort Space Type") == "Disk" or method.startswith("external"):
        used = int(raw.get("Sort Space Used", 0) or 0)
        need = max(used * 2, 4096)
        keys = ", ".join(raw.get("Sort Key", [])) or "the sort key"
        out.append(
            Finding(
                rule="sort_spill",
                node=node.label(),
                node_index=node.index,
                message=f"Sort on {keys} spilled to disk ({method}, {used:,} kB written).",
                suggestion=(
                    f"Raise work_mem for this query (about {need // 1024 + 1} MB would fit it), "
                    f"or add an index on {keys} so rows come out already sorted."
                ),
                relation=_nearest_relation(node),
            )
        )
    batches = int(raw.get("Hash Batches", 1) or 1)
    if node.node_type == "Hash" and batches > 1:
        peak = int(raw.get("Peak Memory Usage", 0) or 0)
        out.append(
            Finding(
                rule="hash_spill",
                node=node.label(),
                node_index=node.index,
                message=f"Hash was split into {batches} batches on disk (peak {peak:,} kB in memory).",
                suggestion=(
                    f"Raise work_mem (about {max(peak * batches // 1024, 4) + 1} MB would keep it in "
                    "memory), or hash the smaller side by filtering it earlier."
                ),
                relation=_nearest_relation(node),
            )
        )
    return out


def _nested_loop(node: PlanNode) -> Finding | None:
    if node.node_type != "Nested Loop" or len(node.children) < 2:
        return None
    inner = node.children[1]
    if node.analyzed:
        loops = inner.loops
        if loops < NESTED_LOOP_MIN_LOOPS:
            return None
        what = f"ran its inner side {loops:,} times"
    else:
        outer_rows = node.children[0].est_rows
        if outer_rows < NESTED_LOOP_MIN_LOOPS * 10:
            return None
        loops = int(outer_rows)
        what = f"is expected to run its inner side {loops:,} times"
    inner_rel = _nearest_relation(inner)
    scan = inner.node_type
    if "Index" in scan:
        hint = (
            "Each inner lookup uses an index, but there are many; if the outer estimate is off, "
            "ANALYZE the outer table so the planner can choose a hash join."
        )
    else:
        hint = (
            f"The inner side ({inner.label()}) is not an index lookup: an index on the join key "
            f"of {inner_rel or 'the inner table'} makes each loop cheap, or ANALYZE the tables so "
            "the planner picks a hash join."
        )
    return Finding(
        rule="nested_loop",
        node=node.label(),
        node_index=node.index,
        message=f"Nested Loop {what}.",
        suggestion=hint,
        relation=inner_rel,
    )


def render_diagnosis(findings: list[Finding]) -> str:
    if not findings:
        return "Diagnosis: nothing stands out (no rule matched).\n"
    lines = ["Diagnosis:"]
    for i, f in enumerate(findings, 1):
        lines.append(f"{i}. [{f.rule}] {f.message}")
        lines.append(f"   → {f.suggestion}")
    return "\n".join(lines) + "\n"


def explain_text(plan_json: str, *, width: int = 0) -> str:
    """Tree + diagnosis, ready to print."""
    result = parse_plan(plan_json)
    return render_tree(result, width=width) + "\n" + render_diagnosis(diagnose(result))
