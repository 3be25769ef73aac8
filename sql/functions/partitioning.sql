-- Hash partitioning by session (docs/partitioning.md): the per-session tables, keyed by session since
-- sql/migrations/026, converted in place into PARTITION BY HASH (session_id) tables. Run by
-- `flask --app wsgi db partition --partitions N` or DATABASE_PARTITIONS=N with `db upgrade` (app/migrations.py),
-- in the upgrade's one transaction: a failure changes nothing.

-- The per-session tables, in the order they are converted (any order works: each conversion takes every foreign
-- key into and out of its table down and up again).
CREATE OR REPLACE FUNCTION session_tables() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['messages', 'reactions', 'live_replies', 'reply_chunks', 'queued_replies', 'share_tokens',
                 'exports', 'summary_runs']
$$;

-- Convert every per-session table not partitioned yet into `p_partitions` hash partitions; returns the tables
-- converted now (none: all were already partitioned, whatever their count; a different count is a dump and
-- restore, not this).
CREATE OR REPLACE FUNCTION partition_by_session(p_partitions integer) RETURNS SETOF text
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    v_table text;
BEGIN
    IF p_partitions IS NULL OR p_partitions NOT BETWEEN 2 AND 1024 THEN
        RAISE EXCEPTION 'partitions must be between 2 and 1024, not %', p_partitions
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH v_table IN ARRAY session_tables() LOOP
        CONTINUE WHEN (SELECT c.relkind FROM pg_class c WHERE c.oid = v_table::regclass) = 'p';
        PERFORM partition_table_by_session(v_table, p_partitions);
        RETURN NEXT v_table;
    END LOOP;
    -- Generic plans for every prepared statement (psycopg's, PL/pgSQL's, the foreign keys' checks) from the next
    -- connection on. A generic plan over partitioned tables is costed with every partition (it prunes only when
    -- it runs), so PostgreSQL's default choice kept planning the engine's statements afresh on every call: 1.82 ms
    -- of PostgreSQL CPU per exchange against 1.24 forced generic, 0.88 unpartitioned (16 partitions, 2 messages;
    -- loadtests/reports/2026-12-04/partitioning.md). The engine's statements are written for generic plans
    -- (docs/architecture.md).
    EXECUTE format('ALTER DATABASE %I SET plan_cache_mode = force_generic_plan', current_database());
END
$fn$;

-- One table: its definition read from the catalog (pg_get_*def), the table renamed, a partitioned copy created
-- under its name with the same columns, defaults, generated columns and checks, its partitions, its rows copied,
-- the old table dropped, then everything read back on: keys, indexes, foreign keys in and out, triggers (after
-- the copy, so no trigger fires for copied rows), the views and functions that name its row type, storage
-- settings. PostgreSQL 15 enforces an exclusion constraint only per partition: each partition gets its own
-- (messages_one_active_sibling holds session_id, so per partition is the whole rule).
CREATE OR REPLACE FUNCTION partition_table_by_session(p_table text, p_partitions integer) RETURNS void
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    v_rel regclass := p_table::regclass;
    v_old text := p_table || '_unpartitioned';
    v_keys text[] := '{}';         -- primary and unique keys, on the partitioned table
    v_exclusions text[] := '{}';   -- on each partition: names, and their definitions in v_excluding
    v_excluding text[] := '{}';
    v_later text[] := '{}';        -- indexes, functions, views, foreign keys, triggers, in that order
    v_foreign_keys text[] := '{}';
    v_triggers text[] := '{}';
    v_views text[] := '{}';
    v_options text[];
    v_columns text;
    v_statement text;
    v_rows bigint;
    r record;
BEGIN
    PERFORM set_config('check_function_bodies', 'off', true);  -- functions read back may call each other
    SELECT c.reloptions INTO v_options FROM pg_class c WHERE c.oid = v_rel;
    -- Foreign keys into and out of the table (top-level ones: a partitioned table's own copies per partition
    -- go with them).
    FOR r IN SELECT c.conname, c.conrelid::regclass AS rel, pg_get_constraintdef(c.oid) AS def
               FROM pg_constraint c
              WHERE c.contype = 'f' AND c.conparentid = 0 AND (c.conrelid = v_rel OR c.confrelid = v_rel)
    LOOP
        v_foreign_keys := v_foreign_keys || format('ALTER TABLE %s ADD CONSTRAINT %I %s', r.rel, r.conname, r.def);
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.rel, r.conname);
    END LOOP;
    FOR r IN SELECT c.conname, c.contype, pg_get_constraintdef(c.oid) AS def
               FROM pg_constraint c WHERE c.conrelid = v_rel AND c.contype IN ('p', 'u', 'x')
    LOOP
        IF r.contype = 'x' THEN
            v_exclusions := v_exclusions || r.conname::text;
            v_excluding := v_excluding || r.def;
        ELSE
            v_keys := v_keys || format('ALTER TABLE %I ADD CONSTRAINT %I %s', p_table, r.conname, r.def);
        END IF;
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', p_table, r.conname);
    END LOOP;
    FOR r IN SELECT i.indexrelid::regclass AS index, pg_get_indexdef(i.indexrelid) AS def
               FROM pg_index i WHERE i.indrelid = v_rel
    LOOP
        v_later := v_later || r.def;  -- "ON public.<table>": the partitioned table, by then
        EXECUTE format('DROP INDEX %s', r.index);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS proc, pg_get_functiondef(p.oid) AS def
               FROM pg_proc p, pg_class c
              WHERE c.oid = v_rel AND c.reltype = ANY (p.proargtypes::oid[] || p.prorettype
                                                       || coalesce(p.proallargtypes, '{}'))
    LOOP
        v_later := v_later || r.def;
        EXECUTE format('DROP FUNCTION %s', r.proc);
    END LOOP;
    FOR r IN SELECT DISTINCT w.ev_class::regclass AS view, pg_get_viewdef(w.ev_class) AS def
               FROM pg_depend d JOIN pg_rewrite w ON w.oid = d.objid
              WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = v_rel AND w.ev_class <> v_rel
    LOOP
        v_views := v_views || format('CREATE VIEW %s AS %s', r.view, r.def);
        EXECUTE format('DROP VIEW %s', r.view);
    END LOOP;
    FOR r IN SELECT pg_get_triggerdef(t.oid) AS def FROM pg_trigger t WHERE t.tgrelid = v_rel AND NOT t.tgisinternal
    LOOP
        v_triggers := v_triggers || r.def;
    END LOOP;

    EXECUTE format('ALTER TABLE %I RENAME TO %I', p_table, v_old);
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING IDENTITY '
                   'INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING COMPRESSION) '
                   'PARTITION BY HASH (session_id)', p_table, v_old);
    FOR i IN 0 .. p_partitions - 1 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES WITH (MODULUS %s, REMAINDER %s)',
                       p_table || '_p' || i, p_table, p_partitions, i);
        IF v_options IS NOT NULL THEN  -- a partitioned table holds no rows, so no storage settings: its partitions do
            EXECUTE format('ALTER TABLE %I SET (%s)', p_table || '_p' || i, array_to_string(v_options, ', '));
        END IF;
        FOR j IN 1 .. coalesce(array_length(v_exclusions, 1), 0) LOOP
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s', p_table || '_p' || i,
                           v_exclusions[j] || '_p' || i, v_excluding[j]);
        END LOOP;
    END LOOP;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_columns
      FROM pg_attribute a
     WHERE a.attrelid = v_old::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
    EXECUTE format('INSERT INTO %I (%s) SELECT %s FROM %I', p_table, v_columns, v_columns, v_old);
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    EXECUTE format('DROP TABLE %I', v_old);

    FOREACH v_statement IN ARRAY v_keys || v_later || v_views || v_foreign_keys || v_triggers LOOP
        EXECUTE v_statement;
    END LOOP;
    -- Statistics for the rows copied. Empty partitions are left never analyzed: the planner then assumes a few
    -- pages of rows and plans index lookups, where "analyzed, empty" plans sequential scans that the plans
    -- cached by prepared statements would keep as the table grows.
    IF v_rows > 0 THEN
        EXECUTE format('ANALYZE %I', p_table);
    END IF;
END
$fn$;
