"""Result column names made distinct, one rule for every place a name becomes a key.

`SELECT e.id, m.id FROM emp e JOIN emp m ...` has two columns named `id`. A table header
can show both, but a JSON object cannot hold both under one key, and a CSV or JSON file
that repeats a name is read back with one side lost. So the second `id` becomes `id_2`
(the third `id_3`, ...), skipping any name the result already uses. The screen, the
headless formats and the exports all apply this rule, so a name means the same column
everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence


def unique_names(names: Sequence[str]) -> list[str]:
    """`names` with later duplicates renamed `name_2`, `name_3`, ... (first one kept)."""
    taken = set(names)
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        if name not in seen:
            seen.add(name)
            out.append(name)
            continue
        n = 2
        while f"{name}_{n}" in taken or f"{name}_{n}" in seen:
            n += 1
        new = f"{name}_{n}"
        seen.add(new)
        out.append(new)
    return out
