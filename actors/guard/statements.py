"""Every statement type the guard knows, and what it is: a registry that fails closed (a
statement type not listed here is `forbidden`). A value is a (label, rank, reason) triple, or a
function of the walk that decides (actors/guard/dml.py, ddl.py, session.py)."""

from __future__ import annotations

from actors.guard.ddl import (
    stmt_alter_table,
    stmt_cluster,
    stmt_comment,
    stmt_create_schema,
    stmt_create_table,
    stmt_define,
    stmt_drop,
    stmt_dropdb,
    stmt_extension,
    stmt_function,
    stmt_index,
    stmt_refresh,
    stmt_reindex,
    stmt_rename,
    stmt_rule,
    stmt_truncate,
    stmt_vacuum,
    stmt_view,
)
from actors.guard.dml import (
    stmt_copy,
    stmt_ctas,
    stmt_delete,
    stmt_explain,
    stmt_insert,
    stmt_merge,
    stmt_select,
    stmt_update,
)
from actors.guard.session import (
    stmt_call,
    stmt_deallocate,
    stmt_declare,
    stmt_execute,
    stmt_fetch,
    stmt_grant,
    stmt_lock,
    stmt_prepare,
    stmt_set,
    stmt_transaction,
)
from actors.guard.tree import DDL, DESTRUCTIVE, FORBIDDEN, READ
from actors.guard.walk import Rule


def _ddl(label: str, reason: str) -> tuple[str, int, str]:
    return (label, DDL, reason)


def _forbid(label: str, reason: str) -> tuple[str, int, str]:
    return (label, FORBIDDEN, reason)


_SERVER_ADMIN = "is server administration, never run from pgask"

STATEMENTS: dict[str, Rule] = {
    # reads and writes
    "SelectStmt": stmt_select,
    "InsertStmt": stmt_insert,
    "UpdateStmt": stmt_update,
    "DeleteStmt": stmt_delete,
    "MergeStmt": stmt_merge,
    "ExplainStmt": stmt_explain,
    "CopyStmt": stmt_copy,
    "VariableShowStmt": ("SHOW", READ, "SHOW reads a setting"),
    "DeclareCursorStmt": stmt_declare,
    "FetchStmt": stmt_fetch,
    "ClosePortalStmt": ("CLOSE", READ, "CLOSE closes a cursor"),
    "PrepareStmt": stmt_prepare,
    "ExecuteStmt": stmt_execute,
    "DeallocateStmt": stmt_deallocate,
    "CallStmt": stmt_call,
    # ddl
    "CreateStmt": stmt_create_table,
    "CreateTableAsStmt": stmt_ctas,
    "ViewStmt": stmt_view,
    "IndexStmt": stmt_index,
    "CreateSchemaStmt": stmt_create_schema,
    "CreateSeqStmt": _ddl("CREATE SEQUENCE", "CREATE SEQUENCE creates a sequence"),
    "AlterSeqStmt": _ddl("ALTER SEQUENCE", "ALTER SEQUENCE changes a sequence"),
    "CompositeTypeStmt": _ddl("CREATE TYPE", "CREATE TYPE creates a composite type"),
    "CreateEnumStmt": _ddl("CREATE TYPE", "CREATE TYPE creates an enum type"),
    "CreateRangeStmt": _ddl("CREATE TYPE", "CREATE TYPE creates a range type"),
    "AlterEnumStmt": _ddl("ALTER TYPE", "ALTER TYPE changes an enum type"),
    "AlterTypeStmt": _ddl("ALTER TYPE", "ALTER TYPE changes a type"),
    "DefineStmt": stmt_define,
    "CreateDomainStmt": _ddl("CREATE DOMAIN", "CREATE DOMAIN creates a domain"),
    "AlterDomainStmt": _ddl("ALTER DOMAIN", "ALTER DOMAIN changes a domain"),
    "CreateTrigStmt": _ddl(
        "CREATE TRIGGER", "CREATE TRIGGER makes a function run on future changes"
    ),
    "CreateExtensionStmt": stmt_extension,
    "AlterExtensionStmt": _ddl("ALTER EXTENSION", "ALTER EXTENSION updates an extension"),
    "AlterExtensionContentsStmt": _ddl("ALTER EXTENSION", "ALTER EXTENSION changes its members"),
    "RuleStmt": stmt_rule,
    "CreatePolicyStmt": _ddl("CREATE POLICY", "CREATE POLICY adds a row-level security policy"),
    "AlterPolicyStmt": _ddl("ALTER POLICY", "ALTER POLICY changes a row-level security policy"),
    "CreateStatsStmt": _ddl("CREATE STATISTICS", "CREATE STATISTICS adds extended statistics"),
    "AlterStatsStmt": _ddl("ALTER STATISTICS", "ALTER STATISTICS changes extended statistics"),
    "CreateCastStmt": _ddl("CREATE CAST", "CREATE CAST adds a type cast"),
    "CreateOpClassStmt": _ddl(
        "CREATE OPERATOR CLASS", "CREATE OPERATOR CLASS adds an operator class"
    ),
    "CreateOpFamilyStmt": _ddl(
        "CREATE OPERATOR FAMILY", "CREATE OPERATOR FAMILY adds an operator family"
    ),
    "AlterOpFamilyStmt": _ddl(
        "ALTER OPERATOR FAMILY", "ALTER OPERATOR FAMILY changes an operator family"
    ),
    "AlterOperatorStmt": _ddl("ALTER OPERATOR", "ALTER OPERATOR changes an operator"),
    "CreateConversionStmt": _ddl(
        "CREATE CONVERSION", "CREATE CONVERSION adds an encoding conversion"
    ),
    "CreateTransformStmt": _ddl("CREATE TRANSFORM", "CREATE TRANSFORM adds a type transform"),
    "CreateAmStmt": _ddl("CREATE ACCESS METHOD", "CREATE ACCESS METHOD adds an access method"),
    "CreatedbStmt": _ddl("CREATE DATABASE", "CREATE DATABASE creates a database"),
    "AlterObjectSchemaStmt": _ddl(
        "ALTER SET SCHEMA", "ALTER … SET SCHEMA moves an object to another schema"
    ),
    "AlterObjectDependsStmt": _ddl(
        "ALTER DEPENDS ON EXTENSION", "ALTER … DEPENDS ON EXTENSION marks a dependency"
    ),
    "AlterFunctionStmt": _ddl("ALTER FUNCTION", "ALTER FUNCTION changes a function's properties"),
    "CreateFunctionStmt": stmt_function,
    "AlterCollationStmt": _ddl("ALTER COLLATION", "ALTER COLLATION refreshes a collation"),
    "AlterTSDictionaryStmt": _ddl(
        "ALTER TEXT SEARCH DICTIONARY", "changes a text search dictionary"
    ),
    "AlterTSConfigurationStmt": _ddl(
        "ALTER TEXT SEARCH CONFIGURATION", "changes a text search configuration"
    ),
    "CreateForeignTableStmt": _ddl(
        "CREATE FOREIGN TABLE", "CREATE FOREIGN TABLE adds a foreign table"
    ),
    "ImportForeignSchemaStmt": _ddl(
        "IMPORT FOREIGN SCHEMA", "IMPORT FOREIGN SCHEMA adds foreign tables"
    ),
    "SecLabelStmt": _ddl("SECURITY LABEL", "SECURITY LABEL changes an object's security label"),
    "CommentStmt": stmt_comment,
    "RefreshMatViewStmt": stmt_refresh,
    "VacuumStmt": stmt_vacuum,
    "AlterTableStmt": stmt_alter_table,
    "RenameStmt": stmt_rename,
    # destructive
    "DropStmt": stmt_drop,
    "TruncateStmt": stmt_truncate,
    "DropdbStmt": stmt_dropdb,
    "ClusterStmt": stmt_cluster,
    "ReindexStmt": stmt_reindex,
    "DropTableSpaceStmt": ("DROP TABLESPACE", DESTRUCTIVE, "DROP TABLESPACE removes a tablespace"),
    "AlterTableMoveAllStmt": (
        "ALTER TABLE ALL IN TABLESPACE",
        DESTRUCTIVE,
        "ALTER … ALL IN TABLESPACE rewrites every table it moves under an exclusive lock",
    ),
    # forbidden
    "VariableSetStmt": stmt_set,
    "TransactionStmt": stmt_transaction,
    "GrantStmt": stmt_grant,
    "GrantRoleStmt": _forbid(
        "GRANT ROLE", "granting or revoking role membership changes privileges"
    ),
    "LockStmt": stmt_lock,
    "DiscardStmt": _forbid(
        "DISCARD", "DISCARD throws away session state (prepared plans, temp tables …)"
    ),
    "ConstraintsSetStmt": _forbid(
        "SET CONSTRAINTS", "SET CONSTRAINTS changes when constraints are checked"
    ),
    "ListenStmt": _forbid("LISTEN", "LISTEN subscribes the session to notifications"),
    "UnlistenStmt": _forbid(
        "UNLISTEN", "UNLISTEN changes the session's notification subscriptions"
    ),
    "NotifyStmt": _forbid("NOTIFY", "NOTIFY sends a notification to other sessions"),
    "LoadStmt": _forbid("LOAD", "LOAD loads a shared library into the server process"),
    "CheckPointStmt": _forbid("CHECKPOINT", "CHECKPOINT forces a server-wide checkpoint"),
    "DoStmt": _forbid("DO", "DO runs an anonymous code block the guard cannot inspect"),
    "AlterSystemStmt": _forbid("ALTER SYSTEM", "ALTER SYSTEM changes the server configuration"),
    "AlterDatabaseStmt": _forbid("ALTER DATABASE", f"ALTER DATABASE {_SERVER_ADMIN}"),
    "AlterDatabaseSetStmt": _forbid(
        "ALTER DATABASE", "ALTER DATABASE … SET changes settings for every session"
    ),
    "AlterDatabaseRefreshCollStmt": _forbid("ALTER DATABASE", f"ALTER DATABASE {_SERVER_ADMIN}"),
    "AlterDefaultPrivilegesStmt": _forbid(
        "ALTER DEFAULT PRIVILEGES", "ALTER DEFAULT PRIVILEGES changes who may access future objects"
    ),
    "CreateRoleStmt": _forbid("CREATE ROLE", "CREATE ROLE/USER creates a login or role"),
    "AlterRoleStmt": _forbid("ALTER ROLE", "ALTER ROLE/USER changes a role's password or powers"),
    "AlterRoleSetStmt": _forbid(
        "ALTER ROLE", "ALTER ROLE … SET changes settings for a role's sessions"
    ),
    "DropRoleStmt": _forbid("DROP ROLE", "DROP ROLE/USER removes a role"),
    "ReassignOwnedStmt": _forbid("REASSIGN OWNED", "REASSIGN OWNED changes who owns objects"),
    "DropOwnedStmt": _forbid(
        "DROP OWNED", "DROP OWNED drops every object a role owns and its privileges"
    ),
    "AlterOwnerStmt": _forbid(
        "ALTER OWNER", "ALTER … OWNER TO changes who owns an object (a privilege change)"
    ),
    "CreatePLangStmt": _forbid("CREATE LANGUAGE", "CREATE LANGUAGE installs a procedural language"),
    "CreateTableSpaceStmt": _forbid(
        "CREATE TABLESPACE", "CREATE TABLESPACE uses a directory on the server"
    ),
    "AlterTableSpaceOptionsStmt": _forbid("ALTER TABLESPACE", f"ALTER TABLESPACE {_SERVER_ADMIN}"),
    "CreateEventTrigStmt": _forbid(
        "CREATE EVENT TRIGGER", "an event trigger runs a function on every DDL command"
    ),
    "AlterEventTrigStmt": _forbid(
        "ALTER EVENT TRIGGER", "ALTER EVENT TRIGGER changes database-wide DDL hooks"
    ),
    "CreateFdwStmt": _forbid(
        "CREATE FOREIGN DATA WRAPPER", "foreign data wrappers reach other servers or files"
    ),
    "AlterFdwStmt": _forbid(
        "ALTER FOREIGN DATA WRAPPER", "foreign data wrappers reach other servers or files"
    ),
    "CreateForeignServerStmt": _forbid(
        "CREATE SERVER", "CREATE SERVER configures a connection to another server"
    ),
    "AlterForeignServerStmt": _forbid(
        "ALTER SERVER", "ALTER SERVER changes a connection to another server"
    ),
    "CreateUserMappingStmt": _forbid(
        "CREATE USER MAPPING", "user mappings store credentials for other servers"
    ),
    "AlterUserMappingStmt": _forbid(
        "ALTER USER MAPPING", "user mappings store credentials for other servers"
    ),
    "DropUserMappingStmt": _forbid(
        "DROP USER MAPPING", "user mappings store credentials for other servers"
    ),
    "CreatePublicationStmt": _forbid(
        "CREATE PUBLICATION", "publications replicate data to other servers"
    ),
    "AlterPublicationStmt": _forbid(
        "ALTER PUBLICATION", "publications replicate data to other servers"
    ),
    "CreateSubscriptionStmt": _forbid(
        "CREATE SUBSCRIPTION", "subscriptions connect to another server"
    ),
    "AlterSubscriptionStmt": _forbid(
        "ALTER SUBSCRIPTION", "subscriptions connect to another server"
    ),
    "DropSubscriptionStmt": _forbid("DROP SUBSCRIPTION", "subscriptions connect to another server"),
}


# =============================================================================================
# Constant evaluation of WHERE / ON conditions (three-valued, conservative)
