"""What server code a read would invoke, resolved the way the server will resolve it.

The guard judges text; this module, run by the executor (the only process with a
connection), tells it what that text reaches in *this* database: an overload of a built-in
name, a user operator, a cast or domain CHECK, a view's definition, an aggregate's support
functions, a table's row-level security policies, a foreign table's wrapper.

Two methods, both answered as `Invoked` objects for the guard to judge (actors/guard/catalog.py):

* **analyzer** (the default): inside a transaction that is always rolled back,
  `CREATE TEMP VIEW pgask_probe AS SELECT 1 FROM (<query>) q`. PostgreSQL parses and resolves
  the query (overloads, operators, casts, attribute notation, its own grammar version) without
  executing it, and records every object the view uses in `pg_depend`. A recursive query then
  closes that set over views' rules, tables' policies, relations' column types, operators'
  functions, aggregates' support functions, types' I/O functions, domains' constraints.
* **closure** (where temporary objects cannot be created: a hot standby, TEMP revoked, or an
  event trigger that our own CREATE would fire): the same closure from every user-visible
  object of the catalog, computed once per safety fingerprint and keyed by name. The guard
  then refuses any read that names an unsafe object, and every read when a user-defined
  implicit cast exists (it can run without being named). Coarser, and closed.

Built-in objects below FirstUnpinnedObjectId are "pinned" and never recorded in pg_depend, so
calls to built-in functions inside a view or a policy are found by the guard judging the
view's (or policy's) definition text, which this module sends along.
"""

from __future__ import annotations

from typing import Any, Final

import asyncpg
import msgspec

from protocol.messages import DoctorFinding, Invoked, Resolution, probe_view_sql

FIRST_NORMAL_OID: Final = 16384  # PostgreSQL's FirstNormalObjectId: below it, built-ins

# What changes what a text resolves to, or what the resolved objects do. A read is run only
# while its database still has the fingerprint the guard judged it against.
SAFETY_FINGERPRINT_SQL: Final = """
SELECT md5(concat_ws('|',
  (SELECT string_agg(oid::text || ':' || xmin::text, ',' ORDER BY oid) FROM pg_proc WHERE oid >= 16384),
  (SELECT string_agg(oid::text || ':' || xmin::text, ',' ORDER BY oid) FROM pg_operator WHERE oid >= 16384),
  (SELECT string_agg(oid::text || ':' || xmin::text, ',' ORDER BY oid) FROM pg_cast WHERE oid >= 16384),
  (SELECT string_agg(oid::text || ':' || xmin::text, ',' ORDER BY oid) FROM pg_rewrite WHERE oid >= 16384),
  (SELECT string_agg(p.oid::text || ':' || p.xmin::text || ':' || c.relrowsecurity::text, ',' ORDER BY p.oid)
     FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid),
  (SELECT string_agg(oid::text || ':' || xmin::text, ',' ORDER BY oid) FROM pg_constraint WHERE contypid > 0),
  (SELECT string_agg(rngtypid::text || ':' || xmin::text, ',' ORDER BY rngtypid) FROM pg_range WHERE rngtypid >= 16384),
  (SELECT string_agg(ftrelid::text || ':' || xmin::text, ',' ORDER BY ftrelid) FROM pg_foreign_table),
  (SELECT string_agg(oid::text || ':' || xmin::text, ',' ORDER BY oid) FROM pg_extension),
  (SELECT string_agg(oid::text || ':' || xmin::text || evtenabled::text, ',' ORDER BY oid) FROM pg_event_trigger),
  current_setting('server_version_num'), current_user, current_setting('search_path')))
"""

# Can this session use the analyzer? (TEMP privilege, not a standby, no event trigger that a
# CREATE VIEW of ours would fire.)
ANALYZER_USABLE_SQL: Final = """
SELECT CASE
  WHEN pg_is_in_recovery() THEN 'the server is a hot standby (no temporary objects there)'
  WHEN NOT has_database_privilege(current_database(), 'TEMP')
    THEN 'this role may not create temporary objects (TEMP privilege)'
  WHEN EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtenabled <> 'D')
    THEN 'the database has event triggers, which a CREATE of ours would fire'
  ELSE '' END
"""

# Everything resolve() needs before deciding, in one round trip.
SERVER_FACTS_SQL: Final = f"""
SELECT current_setting('server_version_num')::int, current_setting('is_superuser') = 'on',
       ({ANALYZER_USABLE_SQL}), ({SAFETY_FINGERPRINT_SQL})
"""

# One step of the closure: from an object (classid, objid) to what it runs or depends on.
# Only non-built-in objects are expanded; built-ins are judged by name.
_STEP: Final = """
    SELECT e.classid, e.objid, w.via
    FROM walk w, LATERAL (
        -- a view runs its definition
        SELECT d.refclassid AS classid, d.refobjid AS objid
        FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
        WHERE w.classid = 'pg_class'::regclass AND r.ev_class = w.objid
          AND NOT (d.refclassid = 'pg_class'::regclass AND d.refobjid = w.objid)
        UNION ALL
        -- a table applies its row-level security policies
        SELECT 'pg_policy'::regclass, p.oid FROM pg_policy p
        WHERE w.classid = 'pg_class'::regclass AND p.polrelid = w.objid
        UNION ALL
        SELECT d.refclassid, d.refobjid FROM pg_depend d
        WHERE w.classid = 'pg_policy'::regclass AND d.classid = 'pg_policy'::regclass
          AND d.objid = w.objid AND d.refclassid <> 'pg_class'::regclass
        UNION ALL
        -- a relation's columns are read through their types' output functions
        SELECT 'pg_type'::regclass, a.atttypid FROM pg_attribute a
        WHERE w.classid = 'pg_class'::regclass AND a.attrelid = w.objid AND a.attnum > 0
          AND a.atttypid >= 16384
        UNION ALL
        -- an operator runs its function
        SELECT 'pg_proc'::regclass, o.oprcode::oid FROM pg_operator o
        WHERE w.classid = 'pg_operator'::regclass AND o.oid = w.objid
        UNION ALL
        -- an aggregate runs its support functions
        SELECT 'pg_proc'::regclass, f FROM pg_aggregate a,
          unnest(ARRAY[a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn, a.aggdeserialfn]::oid[]) f
        WHERE w.classid = 'pg_proc'::regclass AND a.aggfnoid = w.objid AND f <> 0
        UNION ALL
        -- a type: its I/O functions, a domain's base type and constraints, an array's element
        SELECT 'pg_proc'::regclass, f FROM pg_type t,
          unnest(ARRAY[t.typinput, t.typoutput, t.typreceive, t.typsend]::oid[]) f
        WHERE w.classid = 'pg_type'::regclass AND t.oid = w.objid AND f <> 0
        UNION ALL
        SELECT 'pg_type'::regclass, x FROM pg_type t, unnest(ARRAY[t.typbasetype, t.typelem]) x
        WHERE w.classid = 'pg_type'::regclass AND t.oid = w.objid AND x >= 16384
        UNION ALL
        SELECT 'pg_constraint'::regclass, c.oid FROM pg_constraint c
        WHERE w.classid = 'pg_type'::regclass AND c.contypid = w.objid
        UNION ALL
        SELECT d.refclassid, d.refobjid FROM pg_depend d
        WHERE w.classid = 'pg_constraint'::regclass AND d.classid = 'pg_constraint'::regclass
          AND d.objid = w.objid AND d.refclassid <> 'pg_type'::regclass
        -- (a foreign table is judged as such, by its relkind: its wrapper reaches elsewhere)
    ) e
    WHERE w.objid >= 16384
"""

# What each reached object is, in the guard's terms (built-in relations are kept: the guard
# knows which system views hold credentials or server files).
_DESCRIBE: Final = """
SELECT DISTINCT ON (w.classid, w.objid, w.via)
  CASE w.classid
    WHEN 'pg_proc'::regclass THEN 'function' WHEN 'pg_class'::regclass THEN 'relation'
    WHEN 'pg_policy'::regclass THEN 'policy' ELSE 'constraint' END AS kind,
  (SELECT i.type || ' ' || i.identity FROM pg_identify_object(w.classid, w.objid, 0) i) AS what,
  w.via,
  coalesce(pn.nspname, cn.nspname, '') AS schema,
  coalesce(p.proname::text, c.relname::text, pol.polname::text, con.conname::text, '') AS name,
  w.objid < 16384 AS builtin,
  coalesce((SELECT x.extname FROM pg_depend d JOIN pg_extension x ON x.oid = d.refobjid
            WHERE d.classid = w.classid AND d.objid = w.objid AND d.deptype = 'e'
              AND d.refclassid = 'pg_extension'::regclass LIMIT 1), '') AS extension,
  CASE w.classid
    WHEN 'pg_proc'::regclass THEN
      l.lanname || CASE WHEN p.prosecdef THEN ', security definer' ELSE '' END
    WHEN 'pg_class'::regclass THEN c.relkind::text
    ELSE '' END AS detail,
  CASE
    WHEN w.classid = 'pg_class'::regclass AND c.relkind = 'v' AND w.objid >= 16384
      THEN coalesce(pg_get_viewdef(w.objid), '')
    WHEN w.classid = 'pg_policy'::regclass
      THEN concat_ws(' AND ', pg_get_expr(pol.polqual, pol.polrelid), pg_get_expr(pol.polwithcheck, pol.polrelid))
    WHEN w.classid = 'pg_constraint'::regclass AND con.contype = 'c'
      THEN coalesce(pg_get_expr(con.conbin, 0), '')
    ELSE '' END AS definition,
  coalesce(p.pronargs, 0)::int AS nargs
FROM walk w
LEFT JOIN pg_proc p ON w.classid = 'pg_proc'::regclass AND p.oid = w.objid
LEFT JOIN pg_namespace pn ON pn.oid = p.pronamespace
LEFT JOIN pg_language l ON l.oid = p.prolang
LEFT JOIN pg_class c ON w.classid = 'pg_class'::regclass AND c.oid = w.objid
LEFT JOIN pg_namespace cn ON cn.oid = c.relnamespace
LEFT JOIN pg_policy pol ON w.classid = 'pg_policy'::regclass AND pol.oid = w.objid
LEFT JOIN pg_constraint con ON w.classid = 'pg_constraint'::regclass AND con.oid = w.objid
WHERE w.classid IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_policy'::regclass, 'pg_constraint'::regclass)
"""

# analyzer: start from what the probe view's rule depends on ($1: the probe view's oid)
ANALYZER_CLOSURE_SQL: Final = f"""
WITH RECURSIVE walk(classid, objid, via) AS (
    SELECT d.refclassid, d.refobjid, (SELECT i.type || ' ' || i.identity FROM pg_identify_object(d.refclassid, d.refobjid, 0) i)
    FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
    WHERE r.ev_class = $1 AND NOT (d.refclassid = 'pg_class'::regclass AND d.refobjid = $1)
  UNION
    {_STEP}
)
SELECT w.* FROM ({_DESCRIBE}) w
"""

# closure: start from every object a text can name, keyed by that name. `via` holds
# "<kind>\x1f<name>\x1f<description>" of the named object.
_NAMED_ROOTS: Final = """
    SELECT 'pg_proc'::regclass, p.oid,
           'function' || chr(31) || p.proname || chr(31) || (SELECT i.type || ' ' || i.identity FROM pg_identify_object('pg_proc'::regclass, p.oid, 0) i)
    FROM pg_proc p WHERE p.oid >= 16384
  UNION ALL
    SELECT 'pg_class'::regclass, c.oid,
           'relation' || chr(31) || c.relname || chr(31) || (SELECT i.type || ' ' || i.identity FROM pg_identify_object('pg_class'::regclass, c.oid, 0) i)
    FROM pg_class c WHERE c.oid >= 16384 AND c.relkind IN ('r', 'v', 'f', 'p', 'm')
  UNION ALL
    SELECT 'pg_operator'::regclass, o.oid,
           'operator' || chr(31) || o.oprname || chr(31) || (SELECT i.type || ' ' || i.identity FROM pg_identify_object('pg_operator'::regclass, o.oid, 0) i)
    FROM pg_operator o WHERE o.oid >= 16384
  UNION ALL
    SELECT 'pg_type'::regclass, t.oid,
           'type' || chr(31) || t.typname || chr(31) || (SELECT i.type || ' ' || i.identity FROM pg_identify_object('pg_type'::regclass, t.oid, 0) i)
    FROM pg_type t WHERE t.oid >= 16384 AND t.typtype IN ('b', 'd', 'r', 'm')
      AND t.typcategory <> 'A'  -- arrays: their element type is a root of its own
"""

CATALOG_CLOSURE_SQL: Final = f"""
WITH RECURSIVE walk(classid, objid, via) AS (
    SELECT r.* FROM ({_NAMED_ROOTS}) r
  UNION
    {_STEP}
)
SELECT w.* FROM ({_DESCRIBE}) w
"""

# casts that run a non-built-in function; implicit ('i') and assignment ('a') ones run
# without being named in the text
CASTS_SQL: Final = """
SELECT (SELECT i.type || ' ' || i.identity FROM pg_identify_object('pg_cast'::regclass, c.oid, 0) i), format_type(c.casttarget, NULL),
       c.castcontext::text, p.proname, n.nspname,
       coalesce((SELECT x.extname FROM pg_depend d JOIN pg_extension x ON x.oid = d.refobjid
                 WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
                 LIMIT 1), '')
FROM pg_cast c JOIN pg_proc p ON p.oid = c.castfunc JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE c.castfunc >= 16384
"""

# SQLSTATE classes of a probe failure that the real run would meet the same way, at Parse,
# before anything executes: syntax or access rule violations, data exceptions. Anything else
# (a feature a view does not support, ...) is an error, never a pass.
_ANALYSIS_ERROR_CLASSES: Final = ("42", "22")


def _invoked(row: Any) -> Invoked:
    return Invoked(
        kind=row["kind"],
        what=row["what"] or "",
        via=row["via"] or "",
        schema=row["schema"],
        name=row["name"],
        builtin=row["builtin"],
        extension=row["extension"],
        detail=row["detail"] or "",
        definition=row["definition"] or "",
        nargs=row["nargs"],
    )


async def safety_fingerprint(con: asyncpg.Connection) -> str:
    return str(await con.fetchval(SAFETY_FINGERPRINT_SQL))


class Resolutions:
    """What this executor resolved, per safety fingerprint: the same reads against the same
    catalog (a rerun, a script in a loop) are not resolved again, and the closure is built
    once per catalog. Bounded; a new fingerprint makes the old entries unreachable."""

    MAX_ENTRIES: Final = 512

    def __init__(self) -> None:
        self.closures: dict[str, Resolution] = {}
        self.analyzed: dict[tuple[str, tuple[str, ...]], list[list[Invoked]]] = {}

    def remember(self, fingerprint: str, queries: list[str], invoked: list[list[Invoked]]) -> None:
        if len(self.analyzed) >= self.MAX_ENTRIES:
            self.analyzed.clear()
        self.analyzed[(fingerprint, tuple(queries))] = invoked


async def resolve(
    con: asyncpg.Connection,
    queries: list[str],
    cache: Resolutions,
    timeout_ms: int,
    *,
    closure: bool = False,
) -> Resolution:
    """asyncio: resolve `queries` on `con` (which holds no transaction); with `closure`, or
    when the analyzer cannot be used here, also the per-catalog closure."""
    facts = await con.fetchrow(SERVER_FACTS_SQL)  # one round trip: version, role, catalog
    version, superuser, why_not, fingerprint = int(facts[0]), bool(facts[1]), facts[2], facts[3]
    whole = None
    if why_not or closure:
        whole = await _closure(con, version, why_not, cache.closures)
        if why_not:
            return msgspec.structs.replace(whole, superuser=superuser)
    invoked = cache.analyzed.get((fingerprint, tuple(queries)))
    if invoked is None:
        tx = con.transaction()
        await tx.start()
        try:  # read-write, because of the temporary view; always rolled back
            await con.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            fingerprint = await safety_fingerprint(con)
            invoked = [await _analyze(con, query) for query in queries]
        finally:
            await tx.rollback()
        cache.remember(fingerprint, queries, invoked)
    return Resolution(
        method="analyzer",
        fingerprint=fingerprint,
        server_version=version,
        invoked=invoked,
        unsafe=whole.unsafe if whole else {},
        implicit_casts=whole.implicit_casts if whole else [],
        superuser=superuser,
    )


def _matters(item: Invoked) -> bool:
    """Plain user tables run no code of their own (their policies and types are listed apart)."""
    return not (item.kind == "relation" and not item.builtin and item.detail in ("r", "p", "m"))


async def _analyze(con: asyncpg.Connection, query: str) -> list[Invoked]:
    await con.execute("SAVEPOINT pgask_probe")
    try:
        # extended protocol: exactly one statement; CREATE VIEW parses, resolves, stores
        stmt = await con.prepare(probe_view_sql(query))
        await stmt.fetch()
    except asyncpg.PostgresError as exc:
        await con.execute("ROLLBACK TO SAVEPOINT pgask_probe")
        state = str(getattr(exc, "sqlstate", "") or "")
        if state[:2] in _ANALYSIS_ERROR_CLASSES and state != "42501":
            return []  # the run fails the same way at Parse, before anything executes
        raise
    view = await con.fetchval("SELECT 'pg_temp.pgask_probe'::regclass::oid")
    rows = await con.fetch(ANALYZER_CLOSURE_SQL, view)
    await con.execute("ROLLBACK TO SAVEPOINT pgask_probe")
    return [item for item in map(_invoked, rows) if _matters(item)]


async def _closure(
    con: asyncpg.Connection, version: int, why: str, cache: dict[str, Resolution]
) -> Resolution:
    async with con.transaction(readonly=True, isolation="repeatable_read"):
        fingerprint = await safety_fingerprint(con)
        cached = cache.get(fingerprint)
        if cached is not None:
            return cached
        rows = await con.fetch(CATALOG_CLOSURE_SQL)
        casts = await con.fetch(CASTS_SQL)
    unsafe: dict[str, list[Invoked]] = {}
    for row in rows:
        _kind, name, described = (row["via"] or "").split("\x1f", 2)
        item = _invoked(row)
        if _matters(item):
            via = "" if described == item.what else described
            unsafe.setdefault(name, []).append(msgspec.structs.replace(item, via=via))
    implicit: list[Invoked] = []
    for what, target, context, proname, nspname, extension in casts:
        item = Invoked(
            kind="cast",
            what=what,
            schema=nspname,
            name=proname,
            extension=extension,
            detail={"i": "implicit", "a": "assignment"}.get(context, "explicit"),
        )
        if context in ("i", "a"):
            implicit.append(item)
        else:  # explicit casts run only when the text names the target type
            unsafe.setdefault(target.split(".")[-1].strip('"'), []).append(item)
    resolution = Resolution(
        method="closure",
        fingerprint=fingerprint,
        server_version=version,
        unsafe=unsafe,
        implicit_casts=implicit,
        why_closure=why,
    )
    cache.clear()  # one catalog at a time
    cache[fingerprint] = resolution
    return resolution


# -- `pgask doctor`: what this connection could do, whatever pgask decides --------------------

DOCTOR_SQL: Final = """
SELECT current_user, current_database(), current_setting('server_version_num')::int,
       current_setting('is_superuser') = 'on',
       ARRAY(SELECT r FROM unnest(ARRAY['pg_execute_server_program', 'pg_read_server_files',
                                        'pg_write_server_files', 'pg_signal_backend']) r
             WHERE pg_has_role(current_user, r, 'MEMBER')),
       current_setting('standard_conforming_strings'),
       coalesce((SELECT string_agg(cfg, ', ') FROM pg_db_role_setting s, unnest(s.setconfig) cfg
                 WHERE cfg LIKE 'standard_conforming_strings=%'
                   AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
                   AND s.setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = current_user))), ''),
       current_setting('default_transaction_read_only'),
       (SELECT count(*) FROM pg_class WHERE relrowsecurity)::int
"""

_SERVER_POWERS: Final = {
    "pg_execute_server_program": "runs shell commands on the server (COPY … TO PROGRAM)",
    "pg_read_server_files": "reads any file the server can read",
    "pg_write_server_files": "writes files on the server",
    "pg_signal_backend": "cancels or terminates other sessions",
}


def _finding(
    check: str, value: str, problem: bool, advice: str, level: str = "warn"
) -> DoctorFinding:
    """One line of `pgask doctor`: `advice` (and `level`) only when there is a problem."""
    return DoctorFinding(
        check=check,
        value=value,
        level=level if problem else "ok",  # type: ignore[arg-type]
        advice=advice if problem else "",
    )


def _server_powers(role: str, powers: list[str], superuser: bool) -> list[DoctorFinding]:
    out = []
    for name, does in _SERVER_POWERS.items():
        member = name in powers or superuser
        value = "member" if name in powers else "yes, as a superuser" if superuser else "no"
        out.append(
            DoctorFinding(
                check=name,
                value=value,
                level="warn" if member else "ok",
                advice=f"this role {does}; REVOKE {name} FROM {role}" if name in powers else "",
            )
        )
    return out


async def doctor(
    con: asyncpg.Connection, read_role: str, guard_grammar: int
) -> tuple[str, str, int, list[DoctorFinding]]:
    """asyncio: the facts `pgask doctor` reports for one profile, with what to do about each."""
    row = await con.fetchrow(DOCTOR_SQL)
    role, database, version, superuser, powers, scs, scs_override, default_ro, rls = row
    out = [
        _finding(
            "superuser",
            "yes" if superuser else "no",
            superuser,
            "a superuser's reads can reach files, programs and other sessions through code "
            "in the database: connect as a role without superuser for everyday work, or set "
            "read_role to one",
            level="bad",
        )
    ]
    out += _server_powers(role, powers, superuser)
    major, grammar = version // 10000, guard_grammar // 10000
    out += [
        _finding(
            "standard_conforming_strings",
            f"{scs} in pgask's sessions (pinned)"
            + (f"; set {scs_override}" if scs_override else ""),
            bool(scs_override),
            "other clients of this database read backslashes in literals differently; "
            "pgask pins it on for its own sessions",
        ),
        _finding(
            "default_transaction_read_only",
            default_ro,
            default_ro != "on",
            f"ALTER ROLE {role} SET default_transaction_read_only = on adds a default for paths "
            "outside pgask's transactions (pgask's reads are READ ONLY regardless)",
        ),
        _finding(
            "server version",
            f"PostgreSQL {major}; the guard's grammar is {grammar}",
            major != grammar,
            "syntax the two read differently (SQL/JSON before 16/17) is judged as the server "
            "reads it, and every read is resolved by the server's own analyzer",
        ),
        _finding(
            "row-level security",
            f"{rls} table(s) with policies enabled",
            bool(rls),
            "reads of those tables run their policies' functions; pgask refuses the ones "
            "that call user code",
        ),
    ]
    why_not = await con.fetchval(ANALYZER_USABLE_SQL)
    out.append(
        _finding(
            "catalog resolution",
            "analyzer" if not why_not else f"closure ({why_not})",
            bool(why_not),
            "reads are judged by the names they contain, more "
            "coarsely; GRANT TEMP on the database lets pgask resolve them exactly",
        )
    )
    if read_role:
        can = await con.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) "
            "AND pg_has_role(current_user, $1, 'MEMBER')",
            read_role,
        )
        out.append(
            _finding(
                "read_role",
                read_role,
                not can,
                f"{role} cannot SET ROLE {read_role}: GRANT {read_role} TO {role}",
                level="bad",
            )
        )
    return role, database, version, out
