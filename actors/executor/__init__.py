"""executor:<profile>: the only process that holds a connection to a profile's database.

The process is `actors.executor.actor` (its docstring lists what it receives and replies).
Modules, one responsibility each:

    actor        the handler table and the state's lifetime (open_state), doctor, resolve
    state        ExecState (profile, key, pool, catalog cache, audit trail) and limits
    connection   connect arguments, the pool with backoff, session set-up/reset, orphans
    decoders     lossless asyncpg codecs: PostgreSQL values straight to wire values
    errors       asyncpg/socket errors -> DatabaseError, through a SQLSTATE table
    run          the verdict check, the transaction, streaming rows; query handlers
    audit        intent -> try -> outcome records: `with audited(...)`
    copy         COPY ... TO STDOUT to the exporter's stream, on a thread of its own
    catalog      catalog introspection and its cache
    maintenance  the DBA handlers (index check, migration, backup, archive, restore)
    dba, tools   their pure decisions; pg_dump/pg_restore binaries and archives
    resolve      what server code a read would invoke, for the guard's catalog check

May import: actors.executor.*, actors._runtime and protocol (tests/unit/test_layering.py).
Importing this package imports nothing else: asyncpg and trio_asyncio load with its modules.
"""
