"""Function knowledge for the guard (data only; the decisions are in the guard).

Names are lower case, without the `pg_catalog.` prefix, exactly as PostgreSQL resolves them
after quoting, `U&"…"` escapes and case folding.

* READ_ONLY_FUNCTIONS: built-in (and widely used extension) functions known to have no side
  effect on data, the server or other sessions. Everything not listed here, and not matched by
  READ_ONLY_PREFIXES, is treated as a write: user-defined functions can do anything whatever
  volatility they declare.
* FORBIDDEN_FUNCTIONS / FORBIDDEN_PREFIXES: functions that act on the server, its files, other
  sessions or the network. The value is the reason shown to the person; `{name}` is replaced by
  the function's name.
* WRITE_FUNCTIONS: built-ins that change data or session-visible state without being dangerous
  beyond that (sequences, transaction ids).
* EXTENSION_FUNCTIONS: read-only functions of common extensions. They may live in any schema
  (`public.similarity`, `extensions.levenshtein`), so a schema qualification does not make them
  unknown, unlike the built-ins.
"""

from __future__ import annotations

from actors.guard.tree import FORBIDDEN, READ, WRITE


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# -- read-only built-ins ------------------------------------------------------------------------

_AGGREGATES = """
    count sum avg min max every bool_and bool_or bit_and bit_or bit_xor string_agg array_agg
    json_agg json_agg_strict jsonb_agg jsonb_agg_strict json_object_agg json_object_agg_strict
    json_object_agg_unique json_object_agg_unique_strict jsonb_object_agg jsonb_object_agg_strict
    jsonb_object_agg_unique jsonb_object_agg_unique_strict xmlagg range_agg range_intersect_agg
    any_value stddev stddev_pop stddev_samp variance var_pop var_samp corr covar_pop covar_samp
    regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy
    percentile_cont percentile_disc mode rank dense_rank percent_rank cume_dist
"""

_WINDOW = """
    row_number ntile lag lead first_value last_value nth_value
"""

_MATH = """
    abs cbrt ceil ceiling degrees div erf erfc exp factorial floor gcd lcm ln log log10
    min_scale mod pi power pow radians round scale sign sqrt trim_scale trunc width_bucket
    random random_normal acos acosd asin asind atan atand atan2 atan2d cos cosd cot cotd sin sind
    tan tand sinh cosh tanh asinh acosh atanh numeric_inc float8 float4 int2 int4 int8 numeric
    integer bigint smallint to_number isfinite isnan gamma lgamma
"""

_STRING = """
    ascii bit_length btrim char_length character_length chr concat concat_ws convert
    convert_from convert_to decode encode format initcap left length lower lpad ltrim md5
    octet_length overlay parse_ident pg_client_encoding position quote_ident quote_literal
    quote_nullable regexp_count regexp_instr regexp_like regexp_match regexp_matches
    regexp_replace regexp_split_to_array regexp_split_to_table regexp_substr repeat replace
    reverse right rpad rtrim split_part starts_with string_to_array string_to_table strpos substr
    substring to_ascii to_hex to_bin to_oct translate trim unistr upper casefold normalize
    is_normalized sha224 sha256 sha384 sha512 crc32 crc32c text varchar bpchar char name
    like_escape similar_to_escape similar_escape get_bit get_byte set_bit set_byte bit_count
    overlaps textlen textcat texticlike textlike textnlike nameeq uuid_extract_timestamp
    uuid_extract_version
"""

_DATETIME = """
    age clock_timestamp current_date current_time current_timestamp date_add date_bin date_part
    date_subtract date_trunc extract isfinite justify_days justify_hours justify_interval
    localtime localtimestamp make_date make_interval make_time make_timestamp make_timestamptz
    now statement_timestamp timeofday transaction_timestamp to_char to_date to_timestamp
    timezone date time timetz timestamp timestamptz interval
"""

_JSON = """
    to_json to_jsonb array_to_json row_to_json json_build_array jsonb_build_array
    json_build_object jsonb_build_object json_object jsonb_object json_array_elements
    jsonb_array_elements json_array_elements_text jsonb_array_elements_text json_array_length
    jsonb_array_length json_each jsonb_each json_each_text jsonb_each_text json_extract_path
    jsonb_extract_path json_extract_path_text jsonb_extract_path_text json_object_keys
    jsonb_object_keys json_populate_record jsonb_populate_record jsonb_populate_record_valid
    json_populate_recordset jsonb_populate_recordset json_to_record jsonb_to_record
    json_to_recordset jsonb_to_recordset json_strip_nulls jsonb_strip_nulls jsonb_set
    jsonb_set_lax jsonb_insert jsonb_pretty json_typeof jsonb_typeof jsonb_path_exists
    jsonb_path_match jsonb_path_query jsonb_path_query_array jsonb_path_query_first
    jsonb_path_exists_tz jsonb_path_match_tz jsonb_path_query_tz jsonb_path_query_array_tz
    jsonb_path_query_first_tz jsonb_concat jsonb_delete jsonb_delete_path jsonb_contains
    jsonb_contained jsonb_exists jsonb_exists_any jsonb_exists_all json jsonb
    json_scalar json_serialize
"""

_ARRAY = """
    array_append array_cat array_dims array_fill array_length array_lower array_ndims
    array_position array_positions array_prepend array_remove array_replace array_reverse
    array_sample array_shuffle array_sort array_to_string array_upper cardinality trim_array
    unnest generate_subscripts array_larger array_smaller
"""

_RANGE = """
    lower upper isempty lower_inc upper_inc lower_inf upper_inf range_merge multirange
    int4range int8range numrange tsrange tstzrange daterange int4multirange int8multirange
    nummultirange tsmultirange tstzmultirange datemultirange
"""

_SET_RETURNING = """
    generate_series
"""

_NETWORK = """
    abbrev broadcast family host hostmask inet_merge inet_same_family masklen netmask network
    set_masklen macaddr8_set7bit inet cidr macaddr macaddr8
"""

_TEXT_SEARCH = """
    to_tsvector to_tsquery plainto_tsquery phraseto_tsquery websearch_to_tsquery ts_rank
    ts_rank_cd ts_headline setweight strip numnode querytree ts_lexize ts_debug ts_parse
    ts_token_type tsvector_to_array array_to_tsvector ts_delete ts_filter get_current_ts_config
    tsquery_phrase tsvector tsquery
"""

_GEOMETRY = """
    area center diagonal diameter height isclosed isopen npoints pclose popen radius slope width
    bound_box box circle line lseg path point polygon
"""

_MISC = """
    gen_random_uuid uuidv4 uuidv7 uuid coalesce nullif greatest least num_nulls num_nonnulls
    pg_typeof format_type pg_column_size pg_column_compression pg_column_toast_chunk_id
    bool boolean bytea oid money xml xmlcomment xmlconcat xmlelement xmlforest xmlpi xmlroot
    xmlexists xml_is_well_formed xml_is_well_formed_document xml_is_well_formed_content xpath
    xpath_exists xmltext regclass regproc regprocedure regtype regnamespace regrole regoper
    to_regclass to_regcollation to_regnamespace to_regoper to_regoperator to_regproc
    to_regprocedure to_regrole to_regtype to_regtypemod pg_input_is_valid
    pg_input_error_info bit varbit enum_first enum_last enum_range
"""

_SYSTEM_INFO = """
    current_catalog current_database current_query current_role current_schema current_schemas
    current_user session_user system_user user version current_setting
    inet_client_addr inet_client_port inet_server_addr inet_server_port pg_backend_pid
    pg_blocking_pids pg_conf_load_time pg_current_logfile pg_my_temp_schema
    pg_is_other_temp_schema pg_jit_available pg_listening_channels pg_notification_queue_usage
    pg_postmaster_start_time pg_safe_snapshot_blocking_pids pg_trigger_depth
    has_any_column_privilege has_column_privilege has_database_privilege
    has_foreign_data_wrapper_privilege has_function_privilege has_language_privilege
    has_largeobject_privilege has_parameter_privilege has_schema_privilege
    has_sequence_privilege has_server_privilege has_table_privilege has_tablespace_privilege
    has_type_privilege pg_has_role row_security_active acldefault aclexplode makeaclitem
    pg_collation_is_visible pg_conversion_is_visible pg_function_is_visible
    pg_opclass_is_visible pg_operator_is_visible pg_opfamily_is_visible
    pg_statistics_obj_is_visible pg_table_is_visible pg_ts_config_is_visible
    pg_ts_dict_is_visible pg_ts_parser_is_visible pg_ts_template_is_visible pg_type_is_visible
    pg_relation_is_publishable pg_sleep pg_sleep_for pg_sleep_until pg_basetype pg_char_to_encoding pg_encoding_to_char pg_index_column_has_property
    pg_index_has_property pg_indexam_has_property pg_options_to_table pg_settings_get_flags
    pg_tablespace_databases pg_tablespace_location pg_describe_object pg_identify_object
    pg_identify_object_as_address col_description obj_description shobj_description
    pg_current_xact_id_if_assigned pg_current_snapshot pg_snapshot_xip pg_snapshot_xmax
    pg_snapshot_xmin pg_visible_in_snapshot pg_xact_status txid_current_if_assigned
    txid_current_snapshot txid_snapshot_xip txid_snapshot_xmax txid_snapshot_xmin
    txid_visible_in_snapshot txid_status pg_xact_commit_timestamp pg_xact_commit_timestamp_origin
    pg_last_committed_xact pg_control_checkpoint pg_control_system pg_control_init
    pg_control_recovery pg_available_extensions pg_available_extension_versions
    pg_extension_update_paths pg_column_is_updatable pg_relation_is_updatable
    pg_collation_for pg_collation_actual_version pg_database_collation_actual_version
    pg_size_pretty pg_size_bytes pg_relation_size pg_total_relation_size pg_table_size
    pg_indexes_size pg_database_size pg_tablespace_size pg_relation_filenode
    pg_relation_filepath pg_filenode_relation pg_partition_tree pg_partition_ancestors
    pg_partition_root pg_backend_memory_contexts pg_current_wal_lsn pg_current_wal_insert_lsn
    pg_current_wal_flush_lsn pg_last_wal_receive_lsn pg_last_wal_replay_lsn
    pg_last_xact_replay_timestamp pg_wal_lsn_diff pg_walfile_name pg_walfile_name_offset
    pg_split_walfile_name pg_is_in_recovery pg_is_wal_replay_paused pg_get_wal_replay_pause_state
    pg_is_in_backup pg_stat_clear_snapshot pg_sequence_last_value currval lastval
    pg_get_keywords pg_get_catalog_foreign_keys pg_event_trigger_ddl_commands
    pg_event_trigger_dropped_objects pg_event_trigger_table_rewrite_oid
    pg_event_trigger_table_rewrite_reason pg_mcv_list_items pg_numa_available
    pg_get_backend_memory_contexts pg_get_shmem_allocations pg_lock_status
"""

READ_ONLY_FUNCTIONS: frozenset[str] = _names(
    _AGGREGATES
    + _WINDOW
    + _MATH
    + _STRING
    + _DATETIME
    + _JSON
    + _ARRAY
    + _RANGE
    + _SET_RETURNING
    + _NETWORK
    + _TEXT_SEARCH
    + _GEOMETRY
    + _MISC
    + _SYSTEM_INFO
)

# Families of read-only catalog accessors: pg_get_viewdef, pg_get_indexdef, pg_stat_get_*, ...
READ_ONLY_PREFIXES: tuple[str, ...] = ("pg_get_", "pg_stat_get_")

# -- read-only extension functions (may be schema-qualified with any schema) --------------------

_PG_TRGM = "similarity word_similarity strict_word_similarity show_trgm show_limit"
_FUZZYSTRMATCH = """
    levenshtein levenshtein_less_equal soundex difference metaphone dmetaphone dmetaphone_alt
    daitch_mokotoff
"""
_UNACCENT = "unaccent"
_UUID_OSSP = """
    uuid_generate_v1 uuid_generate_v1mc uuid_generate_v3 uuid_generate_v4 uuid_generate_v5
    uuid_nil uuid_ns_dns uuid_ns_url uuid_ns_oid uuid_ns_x500
"""
_PGCRYPTO = """
    digest hmac crypt gen_salt gen_random_bytes pgp_sym_encrypt pgp_sym_decrypt
    pgp_pub_encrypt pgp_pub_decrypt pgp_key_id armor dearmor
"""
_HSTORE = """
    hstore akeys avals skeys svals hstore_to_json hstore_to_jsonb hstore_to_array
    hstore_to_matrix
"""
_CUBE_EARTH = """
    cube cube_dim cube_distance cube_ll_coord cube_ur_coord cube_union cube_inter cube_size
    ll_to_earth earth_distance earth_box gc_to_sec sec_to_gc
"""
_VECTOR = """
    vector cosine_distance l2_distance l1_distance inner_product vector_dims vector_norm
    l2_normalize binary_quantize subvector hamming_distance jaccard_distance halfvec sparsevec
"""
_LTREE_CITEXT_INTARRAY = """
    nlevel subltree subpath text2ltree ltree2text lca citext
"""
_POSTGIS_MISC = """
    geometry geography box2d box3d postgis_version postgis_full_version postgis_lib_version
    postgis_geos_version postgis_proj_version postgis_scripts_installed postgis_typmod_type
    postgis_typmod_srid postgis_typmod_dims
"""

EXTENSION_FUNCTIONS: frozenset[str] = _names(
    _PG_TRGM
    + _FUZZYSTRMATCH
    + _UNACCENT
    + _UUID_OSSP
    + _PGCRYPTO
    + _HSTORE
    + _CUBE_EARTH
    + _VECTOR
    + _LTREE_CITEXT_INTARRAY
    + _POSTGIS_MISC
)

# PostGIS: every st_* function is a pure geometry computation.
EXTENSION_PREFIXES: tuple[str, ...] = ("st_",)

# -- writes -------------------------------------------------------------------------------------

WRITE_FUNCTIONS: dict[str, str] = {
    "nextval": "nextval advances a sequence (the change survives ROLLBACK)",
    "setval": "setval changes a sequence's current value",
    "txid_current": "txid_current assigns a transaction id (a write)",
    "pg_current_xact_id": "pg_current_xact_id assigns a transaction id (a write)",
}

# -- forbidden: acts on the server, its files, other sessions or the network --------------------

_SERVER_FILES = "{name} reads or lists files on the database server"
_WRITES_FILES = "{name} writes, renames or deletes files on the database server"
_LARGE_OBJECT = "{name} works on large objects (lo_import/lo_export reach server files)"
_DBLINK = "{name} opens a connection to another database (what it runs there escapes this guard)"
_ADVISORY = "{name} takes or releases advisory locks that other sessions wait on"
_REPLICATION = (
    "{name} controls replication slots or origins (slots retain WAL until the disk fills)"
)
_WAL = "{name} controls WAL, backups or recovery on the server"
_STATS = "{name} resets the server's statistics"
_SQL_STRING = "{name} runs a SQL query given as a string, which the guard cannot check"
_SIGNAL = "{name} signals another server process"

FORBIDDEN_FUNCTIONS: dict[str, str] = {
    "pg_terminate_backend": "pg_terminate_backend kills another session",
    "pg_cancel_backend": "pg_cancel_backend cancels another session's query",
    "pg_reload_conf": "pg_reload_conf reloads the server configuration",
    "pg_rotate_logfile": "pg_rotate_logfile rotates the server's log file",
    "pg_rotate_logfile_old": "pg_rotate_logfile_old rotates the server's log file",
    "pg_log_backend_memory_contexts": _SIGNAL,
    "pg_log_standby_snapshot": _WAL,
    "pg_read_file": "pg_read_file reads files on the database server",
    "pg_read_binary_file": "pg_read_binary_file reads files on the database server",
    "pg_read_file_old": _SERVER_FILES,
    "pg_stat_file": "pg_stat_file inspects files on the database server",
    "pg_logdir_ls": _SERVER_FILES,
    "pg_notify": "pg_notify sends a notification to other sessions",
    "set_config": "set_config changes a server setting for this session (like SET)",
    "set_limit": "set_limit changes a pg_trgm setting for this session (like SET)",
    "pg_logical_emit_message": "pg_logical_emit_message writes a message into the WAL",
    "pg_switch_wal": _WAL,
    "pg_switch_xlog": _WAL,
    "pg_create_restore_point": _WAL,
    "pg_promote": "pg_promote promotes a standby server to primary",
    "pg_start_backup": _WAL,
    "pg_stop_backup": _WAL,
    "pg_import_system_collations": "pg_import_system_collations adds collations to the catalog",
    "pg_truncate_visibility_map": "pg_truncate_visibility_map rewrites a table's visibility map",
    "pg_stat_statements_reset": _STATS,
    "query_to_xml": _SQL_STRING,
    "query_to_xmlschema": _SQL_STRING,
    "query_to_xml_and_xmlschema": _SQL_STRING,
    "cursor_to_xml": _SQL_STRING,
    "cursor_to_xmlschema": _SQL_STRING,
    "table_to_xml": _SQL_STRING,
    "table_to_xmlschema": _SQL_STRING,
    "table_to_xml_and_xmlschema": _SQL_STRING,
    "schema_to_xml": _SQL_STRING,
    "schema_to_xmlschema": _SQL_STRING,
    "schema_to_xml_and_xmlschema": _SQL_STRING,
    "database_to_xml": _SQL_STRING,
    "database_to_xmlschema": _SQL_STRING,
    "database_to_xml_and_xmlschema": _SQL_STRING,
    "ts_stat": _SQL_STRING,
    "crosstab": _SQL_STRING,
    "crosstab2": _SQL_STRING,
    "crosstab3": _SQL_STRING,
    "crosstab4": _SQL_STRING,
    "connectby": _SQL_STRING,
    "loread": _LARGE_OBJECT,
    "lowrite": _LARGE_OBJECT,
    "binary_upgrade_set_next_pg_type_oid": "{name} is for pg_upgrade only",
}

# Matched on the start of the name. Checked before the read-only tables.
FORBIDDEN_PREFIXES: tuple[tuple[str, str], ...] = (
    ("pg_ls_", "{name} lists files or directories on the database server"),
    ("pg_read_", _SERVER_FILES),
    ("pg_file_", _WRITES_FILES),
    ("lo_", _LARGE_OBJECT),
    ("dblink", _DBLINK),
    ("pg_advisory", _ADVISORY),
    ("pg_try_advisory", _ADVISORY),
    ("pg_stat_reset", _STATS),
    ("pg_replication_", _REPLICATION),
    ("pg_create_physical_replication_slot", _REPLICATION),
    ("pg_create_logical_replication_slot", _REPLICATION),
    ("pg_drop_replication_slot", _REPLICATION),
    ("pg_copy_physical_replication_slot", _REPLICATION),
    ("pg_copy_logical_replication_slot", _REPLICATION),
    ("pg_logical_slot_", _REPLICATION),
    ("pg_sync_replication_slots", _REPLICATION),
    ("pg_wal_replay_", _WAL),
    ("pg_xlog_replay_", _WAL),
    ("pg_backup_", _WAL),
    ("pg_buffercache_evict", "{name} evicts pages from the server's shared buffers"),
    ("binary_upgrade_", "{name} is for pg_upgrade only"),
)

# Table-sample methods that only read (TABLESAMPLE <method>(...)).
TABLESAMPLE_METHODS: frozenset[str] = frozenset(
    {"system", "bernoulli", "system_rows", "system_time"}
)

# Extensions whose installation gives SQL access to files, programs or the network.
FORBIDDEN_EXTENSIONS: dict[str, str] = {
    "dblink": "the dblink extension lets SQL connect to other databases",
    "postgres_fdw": "the postgres_fdw extension lets SQL connect to other servers",
    "file_fdw": "the file_fdw extension lets SQL read server files and run programs",
    "adminpack": "the adminpack extension lets SQL write server files",
    "plpython3u": "plpython3u is an untrusted language with access to the server's OS",
    "plpythonu": "plpythonu is an untrusted language with access to the server's OS",
    "plperlu": "plperlu is an untrusted language with access to the server's OS",
    "pltclu": "pltclu is an untrusted language with access to the server's OS",
    "pg_cron": "pg_cron schedules SQL to run later, outside this guard",
    "lo": "the lo extension manages large objects",
    "pageinspect": "pageinspect exposes raw data pages",
    "pg_surgery": "pg_surgery alters tuples directly and can corrupt data",
}

# Languages a CREATE FUNCTION / PROCEDURE may use (anything else is forbidden).
ALLOWED_FUNCTION_LANGUAGES: frozenset[str] = frozenset({"sql", "plpgsql"})


# -- sensitive built-in relations -----------------------------------------------------------------

# System views and catalogs that expose credentials or server files. Reading them is refused
# unless [safety] allow_sensitive_catalogs = true.
SENSITIVE_RELATIONS: dict[str, str] = {
    "pg_authid": "password hashes of every role",
    "pg_shadow": "password hashes of every role",
    "pg_user_mappings": "passwords for foreign servers",
    "pg_user_mapping": "passwords for foreign servers",
    "pg_hba_file_rules": "the server's client authentication file (pg_hba.conf)",
    "pg_ident_file_mappings": "the server's user name map file (pg_ident.conf)",
    "pg_file_settings": "the server's configuration files",
}

# SQL/JSON syntax and the server major version (x 10000) that first reads it as such. An older
# server reads the same text as a call to a function of that name, which may be anyone's.
SQL_JSON_SINCE: dict[str, tuple[int, str]] = {
    "JsonFuncExpr": (170000, ""),  # json_exists / json_query / json_value: by its op
    "JsonTable": (170000, "json_table"),
    "JsonParseExpr": (170000, "json"),
    "JsonScalarExpr": (170000, "json_scalar"),
    "JsonSerializeExpr": (170000, "json_serialize"),
    "JsonObjectConstructor": (160000, "json_object"),
    "JsonArrayConstructor": (160000, "json_array"),
    "JsonArrayQueryConstructor": (160000, "json_array"),
    "JsonObjectAgg": (160000, "json_objectagg"),
    "JsonArrayAgg": (160000, "json_arrayagg"),
    "JsonIsPredicate": (160000, ""),  # IS JSON: a syntax error before 16
}


# -- the verdict on one call ---------------------------------------------------------------


_FUNCTION_CACHE: dict[tuple[tuple[str, ...], int], tuple[int, str]] = {}


def function_verdict(parts: tuple[str, ...], nargs: int) -> tuple[int, str]:
    key = (parts, nargs)
    found = _FUNCTION_CACHE.get(key)
    if found is None:
        found = _FUNCTION_CACHE[key] = _judge_function(parts, nargs)
    return found


def _judge_function(parts: tuple[str, ...], nargs: int) -> tuple[int, str]:
    name = parts[-1] if parts else ""
    shown = ".".join(parts)
    qualified = len(parts) > 1
    reason = FORBIDDEN_FUNCTIONS.get(name)
    if reason is None:
        for prefix, text in FORBIDDEN_PREFIXES:
            if name.startswith(prefix):
                reason = text
                break
    if reason is None and name == "ts_rewrite" and nargs == 2:
        reason = "ts_rewrite with two arguments runs a SQL query given as a string"
    if reason is not None:
        return FORBIDDEN, reason.format(name=shown)
    if name in WRITE_FUNCTIONS:
        return WRITE, WRITE_FUNCTIONS[name]
    if not qualified and (name in READ_ONLY_FUNCTIONS or name.startswith(READ_ONLY_PREFIXES)):
        return READ, ""
    if len(parts) <= 2 and (name in EXTENSION_FUNCTIONS or name.startswith(EXTENSION_PREFIXES)):
        return READ, ""
    if name == "ts_rewrite":
        return READ, ""
    return WRITE, (
        f"{shown} is not a known read-only function, so it may change data "
        "(user-defined functions count as writes)"
    )
