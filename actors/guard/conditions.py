"""Constant evaluation of WHERE / ON conditions, three-valued and conservative: is a DELETE or
UPDATE condition always true, or independent of the target's rows (then it matches every row
or none)?"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec

from actors.guard.tree import sval

# =============================================================================================


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()

_TRUE_WORDS = ("t", "tr", "tru", "true", "y", "ye", "yes", "on", "1")
_FALSE_WORDS = ("f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0")


def _as_bool(v: Any) -> Any:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, str):
        s = v.strip().lower()
        if s in _TRUE_WORDS:
            return True
        if s in _FALSE_WORDS:
            return False
    return UNKNOWN


def truth_of(expr: dict[str, Any]) -> Any:
    """True / False / None (NULL) when a condition's value is the same for every row, else UNKNOWN.

    `True` is also returned for conditions that hold for every row whose columns are not NULL
    (`x = x`, `x LIKE '%'`): the guard treats those as matching every row.
    """
    try:
        return _as_bool(_value(expr, 0))
    except (ArithmeticError, ValueError, TypeError, OverflowError, RecursionError):
        return UNKNOWN


def _value(e: Any, depth: int) -> Any:
    if depth > 60 or type(e) is not dict or len(e) != 1:
        return UNKNOWN
    ((kind, b),) = e.items()
    d = depth + 1
    if kind == "A_Const":
        if b.get("isnull"):
            return None
        if "boolval" in b:
            return bool(b["boolval"].get("boolval", False))
        if "ival" in b:
            return int(b["ival"].get("ival", 0))
        if "fval" in b:
            return float(b["fval"].get("fval", "0"))
        if "sval" in b:
            return str(b["sval"].get("sval", ""))
        return UNKNOWN
    if kind == "TypeCast":
        return _cast(_value(b.get("arg"), d), b.get("typeName", {}))
    if kind == "BoolExpr":
        return _boolexpr(b, d)
    if kind == "A_Expr":
        return _aexpr(b, d)
    if kind == "NullTest":
        v = _value(b.get("arg"), d)
        if v is UNKNOWN:
            return UNKNOWN
        is_null = v is None
        return is_null if b.get("nulltesttype") == "IS_NULL" else not is_null
    if kind == "BooleanTest":
        v = _as_bool(_value(b.get("arg"), d))
        if v is UNKNOWN:
            return UNKNOWN
        test = b.get("booltesttype", "")
        return {
            "IS_TRUE": v is True,
            "IS_NOT_TRUE": v is not True,
            "IS_FALSE": v is False,
            "IS_NOT_FALSE": v is not False,
            "IS_UNKNOWN": v is None,
            "IS_NOT_UNKNOWN": v is not None,
        }.get(test, UNKNOWN)
    if kind == "CoalesceExpr":
        for arg in b.get("args", ()):
            v = _value(arg, d)
            if v is UNKNOWN:
                return UNKNOWN
            if v is not None:
                return v
        return None
    if kind == "SubLink" and b.get("subLinkType") == "EXISTS_SUBLINK":
        sub = b.get("subselect", {}).get("SelectStmt", {})
        plain = not any(
            k in sub for k in ("fromClause", "whereClause", "havingClause", "limitCount")
        )
        if plain and "targetList" in sub and sub.get("op", "SETOP_NONE") == "SETOP_NONE":
            return True
        return UNKNOWN
    return UNKNOWN


def _cast(v: Any, type_name: dict[str, Any]) -> Any:
    if v is UNKNOWN or v is None:
        return v
    names = [sval(n) for n in type_name.get("names", ())]
    t = names[-1] if names else ""
    if t in ("bool", "boolean"):
        if isinstance(v, int) and not isinstance(v, bool):
            return v != 0
        return _as_bool(v)
    if t in ("int2", "int4", "int8", "integer", "bigint", "smallint"):
        if isinstance(v, str):
            return int(v.strip())
        return int(v)
    if t in ("numeric", "float4", "float8", "decimal", "real"):
        return float(v)
    if t in ("text", "varchar", "bpchar", "name", "char"):
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)
    return UNKNOWN


def _boolexpr(b: dict[str, Any], d: int) -> Any:
    op = b.get("boolop")
    args = b.get("args", ())
    vals = [_as_bool(_value(a, d)) for a in args]
    if op == "NOT_EXPR":
        v = vals[0] if vals else UNKNOWN
        return UNKNOWN if v is UNKNOWN else (None if v is None else not v)
    if op == "AND_EXPR":
        if any(v is False for v in vals):
            return False
        if all(v is True for v in vals):
            return True
        if all(v is True or v is None for v in vals):
            return None
        return UNKNOWN
    if op == "OR_EXPR":
        if any(v is True for v in vals) or _complementary(args):
            return True
        if all(v is False for v in vals):
            return False
        if all(v is False or v is None for v in vals):
            return None
        return UNKNOWN
    return UNKNOWN


_NEGATED_OPS = {"=": "<>", "<>": "=", "!=": "=", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}


def _complementary(args: list[dict[str, Any]]) -> bool:
    """Does an OR hold a condition and its negation (`x IS NULL OR x IS NOT NULL`, `p OR NOT p`,
    `a = b OR a <> b`)? Expressions are only compared when a partner of the right shape exists."""
    nulltests: dict[str, list[dict[str, Any]]] = {}
    comparisons: dict[str, list[dict[str, Any]]] = {}
    negations: list[dict[str, Any]] = []
    for a in args:
        if "NullTest" in a:
            n = a["NullTest"]
            nulltests.setdefault(n.get("nulltesttype", ""), []).append(n.get("arg", {}))
        elif "A_Expr" in a and a["A_Expr"].get("kind") == "AEXPR_OP":
            x = a["A_Expr"]
            comparisons.setdefault(_op_name(x), []).append(x)
        elif "BoolExpr" in a and a["BoolExpr"].get("boolop") == "NOT_EXPR":
            inner = a["BoolExpr"].get("args", ())
            if inner:
                negations.append(inner[0])
    if "IS_NULL" in nulltests and "IS_NOT_NULL" in nulltests:
        left = {_canon(e) for e in nulltests["IS_NULL"]}
        if any(_canon(e) in left for e in nulltests["IS_NOT_NULL"]):
            return True
    for op, exprs in comparisons.items():
        other = comparisons.get(_NEGATED_OPS.get(op, ""))
        if other:
            mine = {(_canon(x.get("lexpr")), _canon(x.get("rexpr"))) for x in exprs}
            if any((_canon(x.get("lexpr")), _canon(x.get("rexpr"))) in mine for x in other):
                return True
    if negations:
        kinds = {next(iter(n)) for n in negations if n}
        others = {_canon(a) for a in args if a and next(iter(a)) in kinds}
        if any(_canon(n) in others for n in negations):
            return True
    return False


def _op_name(x: dict[str, Any]) -> str:
    names = x.get("name", ())
    return sval(names[-1]) if names else ""


def _aexpr(b: dict[str, Any], d: int) -> Any:
    kind = b.get("kind")
    op = _op_name(b)
    lexpr, rexpr = b.get("lexpr"), b.get("rexpr")
    if kind == "AEXPR_OP":
        if (
            lexpr is not None
            and rexpr is not None
            and op in ("=", "<=", ">=")
            and _same(lexpr, rexpr)
        ):
            return True
        if (
            lexpr is not None
            and rexpr is not None
            and op in ("<>", "!=", "<", ">")
            and _same(lexpr, rexpr)
        ):
            return False
        right = _value(rexpr, d)
        if lexpr is None:
            if right is UNKNOWN or right is None:
                return right
            if op == "-":
                return -right
            if op == "+":
                return +right
            return UNKNOWN
        left = _value(lexpr, d)
        return _binary(op, left, right)
    if kind in ("AEXPR_DISTINCT", "AEXPR_NOT_DISTINCT"):
        if _same(lexpr, rexpr):
            return kind == "AEXPR_NOT_DISTINCT"
        left, right = _value(lexpr, d), _value(rexpr, d)
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        if left is None or right is None:
            equal = left is None and right is None
        else:
            eq = _binary("=", left, right)
            if eq is UNKNOWN:
                return UNKNOWN
            equal = bool(eq)
        return equal if kind == "AEXPR_NOT_DISTINCT" else not equal
    if kind == "AEXPR_IN":
        return _aexpr_in(op, lexpr, rexpr, d)
    if kind in ("AEXPR_BETWEEN", "AEXPR_NOT_BETWEEN", "AEXPR_BETWEEN_SYM", "AEXPR_NOT_BETWEEN_SYM"):
        return _aexpr_between(kind, lexpr, rexpr, d)
    if kind in ("AEXPR_LIKE", "AEXPR_ILIKE"):
        pattern = _value(rexpr, d) if "A_Const" in (rexpr or {}) else _like_pattern(rexpr, d)
        if isinstance(pattern, str) and pattern and set(pattern) == {"%"}:
            return op in ("~~", "~~*")  # LIKE '%' matches every non-NULL value
        return UNKNOWN
    if kind == "AEXPR_NULLIF":
        return UNKNOWN
    return UNKNOWN


def _aexpr_in(op: str, lexpr: Any, rexpr: Any, d: int) -> Any:
    """x IN (a, b, ...) and x NOT IN (...), three-valued."""
    items = rexpr.get("List", {}).get("items", ()) if isinstance(rexpr, dict) else ()
    if any(_same(lexpr, i) for i in items) and op == "=":
        return True
    left = _value(lexpr, d)
    vals = [_value(i, d) for i in items]
    if left is UNKNOWN or any(v is UNKNOWN for v in vals):
        return UNKNOWN
    hits = [_binary("=", left, v) for v in vals]
    if any(h is UNKNOWN for h in hits):
        return UNKNOWN
    found = any(h is True for h in hits)
    if op == "=":
        return True if found else (None if (left is None or None in vals) else False)
    return False if found else (None if (left is None or None in vals) else True)


def _aexpr_between(kind: str, lexpr: Any, rexpr: Any, d: int) -> Any:
    """x [NOT] BETWEEN [SYMMETRIC] lo AND hi, three-valued."""
    items = rexpr.get("List", {}).get("items", ()) if isinstance(rexpr, dict) else ()
    if len(items) != 2:
        return UNKNOWN
    left = _value(lexpr, d)
    lo, hi = _value(items[0], d), _value(items[1], d)
    if kind.endswith("_SYM") and all(v is not UNKNOWN and v is not None for v in (lo, hi)):
        if _binary(">", lo, hi) is True:
            lo, hi = hi, lo
    inside = _boolexpr_vals([_binary(">=", left, lo), _binary("<=", left, hi)])
    if "NOT" in kind:
        return UNKNOWN if inside is UNKNOWN else (None if inside is None else not inside)
    return inside


def _like_pattern(rexpr: Any, d: int) -> Any:
    """The pattern of LIKE … ESCAPE, which the parser wraps in like_escape()."""
    if isinstance(rexpr, dict) and "FuncCall" in rexpr:
        args = rexpr["FuncCall"].get("args", ())
        if args:
            return _value(args[0], d)
    return UNKNOWN


def _boolexpr_vals(vals: list[Any]) -> Any:
    if any(v is False for v in vals):
        return False
    if all(v is True for v in vals):
        return True
    if any(v is UNKNOWN for v in vals):
        return UNKNOWN
    return None


def _binary(op: str, left: Any, right: Any) -> Any:
    if left is UNKNOWN or right is UNKNOWN:
        return UNKNOWN
    if left is None or right is None:
        return None
    if isinstance(left, str) != isinstance(right, str):
        # an untyped literal next to a number is read as that number ('1' = 1)
        if isinstance(left, str):
            left = _number(left)
        else:
            right = _number(right)
    if isinstance(left, bool) != isinstance(right, bool) and op not in ("||",):
        left, right = _as_bool(left), _as_bool(right)
        if left is UNKNOWN or right is UNKNOWN or left is None or right is None:
            return UNKNOWN
    if op == "=":
        return left == right
    if op in ("<>", "!="):
        return left != right
    if op == "<":
        return left < right
    if op == ">":
        return left > right
    if op == "<=":
        return left <= right
    if op == ">=":
        return left >= right
    if op == "||":
        return f"{left}{right}"
    if isinstance(left, str) or isinstance(right, str):
        return UNKNOWN
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        if isinstance(left, int) and isinstance(right, int):
            q = abs(left) // abs(right)
            return q if (left >= 0) == (right >= 0) else -q
        return left / right
    if op == "%":
        return left % right
    return UNKNOWN


def _number(s: str) -> Any:
    s = s.strip()
    try:
        return int(s)
    except ValueError:
        return float(s)


def _same(a: Any, b: Any) -> bool:
    """Are two expressions the same text, ignoring positions (and not constants)?"""
    if a is None or b is None:
        return False
    if "A_Const" in a or a.keys() != b.keys():
        return False  # constants are compared by value instead
    return _canon(a) == _canon(b)


_LOCATION = re.compile(rb'"location":-?\d+,?')
_ENCODE = msgspec.json.Encoder().encode


def _canon(o: Any) -> bytes:
    """An expression's identity without its positions in the text."""
    return _LOCATION.sub(b"", _ENCODE(o))


def target_names(rel: dict[str, Any]) -> frozenset[str]:
    names = {rel.get("relname", "")}
    alias = rel.get("alias", {}).get("aliasname")
    if alias:
        names.add(alias)
    return frozenset(names)


def row_dependent(expr: Any, names: frozenset[str]) -> bool:
    """Could the condition's value differ between rows of the target table?

    A column reference counts when it is unqualified (it may name a target column) or
    qualified by the target's name or alias. References qualified by another table do not.
    """
    stack = [expr]
    while stack:
        o = stack.pop()
        if type(o) is dict:
            ref = o.get("ColumnRef")
            if type(ref) is dict and len(o) == 1:
                fields = ref.get("fields", ())
                if len(fields) <= 1:
                    return True
                qualifier = sval(fields[-2])
                if qualifier in names:
                    return True
                continue
            if "CurrentOfExpr" in o:
                return True
            stack.extend(v for v in o.values() if type(v) is dict or type(v) is list)
        elif type(o) is list:
            stack.extend(o)
    return False


# =============================================================================================
# Small helpers
