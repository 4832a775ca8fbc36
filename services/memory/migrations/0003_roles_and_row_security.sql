-- Least-privilege roles and row-level security by namespace.
--
-- The roles are created NOLOGIN, without passwords: no credential is ever written in the
-- repository. Setup gives them a password from a secret file (services.memory.roles), or a
-- deployment connects as an administrator and switches to the role (CEREBRO_*_DATABASE_ROLE).
--   nexus_app     the memory API: reads and writes memories, never the queue's internals.
--   nexus_worker  the workers: reads memories, writes vectors and the queue, deletes nothing.
--   nexus_ro      read-only queries.
-- Roles belong to the whole cluster; creating one that another database created already is fine.

DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['nexus_app', 'nexus_worker', 'nexus_ro'] LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created earlier, or concurrently by another database's migration
        END;
    END LOOP;
END;
$$;

GRANT USAGE ON SCHEMA memory TO nexus_app, nexus_worker, nexus_ro;

GRANT SELECT, INSERT ON memory.namespaces TO nexus_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    memory.projects, memory.episodes, memory.semantic_memories, memory.working_memory, memory.memory_blocks
    TO nexus_app;
GRANT SELECT ON memory.memory_block_revisions, memory.embeddings_queue TO nexus_app;
GRANT SELECT, INSERT ON memory.checkpoints TO nexus_app;
GRANT SELECT, INSERT, UPDATE ON memory.consciousness_states TO nexus_app;

GRANT SELECT ON memory.namespaces, memory.episodes, memory.semantic_memories, memory.working_memory TO nexus_worker;
GRANT UPDATE (embedding, embedding_version, embedded_at) ON memory.episodes, memory.semantic_memories TO nexus_worker;
GRANT SELECT, INSERT, UPDATE ON memory.embeddings_queue TO nexus_worker;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA memory TO nexus_worker;

GRANT SELECT ON ALL TABLES IN SCHEMA memory TO nexus_ro;

-- The reconciliation worker removes expired working memory through this function only: its role
-- has no DELETE privilege of its own.
CREATE FUNCTION memory.delete_expired_working_memory(max_rows integer) RETURNS integer
    LANGUAGE sql SECURITY DEFINER SET search_path = memory, pg_catalog AS $$
    WITH expired AS (
        SELECT item_id FROM memory.working_memory
        WHERE expires_at <= now()
        ORDER BY expires_at
        LIMIT max_rows
        FOR UPDATE SKIP LOCKED
    ), deleted AS (
        DELETE FROM memory.working_memory w USING expired e WHERE w.item_id = e.item_id RETURNING 1
    )
    SELECT count(*)::integer FROM deleted
$$;
REVOKE ALL ON FUNCTION memory.delete_expired_working_memory(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.delete_expired_working_memory(integer) TO nexus_worker;

-- Row-level security: the API and read-only roles see only the rows of the namespace their
-- transaction declared with set_config('cerebro.namespace', <name>, true). Without it they see
-- nothing. The workers serve every namespace.
DO $$
DECLARE
    table_name text;
BEGIN
    FOREACH table_name IN ARRAY ARRAY[
        'projects', 'episodes', 'semantic_memories', 'working_memory', 'memory_blocks',
        'memory_block_revisions', 'checkpoints', 'consciousness_states'
    ] LOOP
        EXECUTE format('ALTER TABLE memory.%I ENABLE ROW LEVEL SECURITY', table_name);
        EXECUTE format(
            'CREATE POLICY namespace_isolation ON memory.%I TO nexus_app, nexus_ro '
            'USING (namespace = current_setting(''cerebro.namespace'', true)) '
            'WITH CHECK (namespace = current_setting(''cerebro.namespace'', true))',
            table_name
        );
    END LOOP;
END;
$$;
CREATE POLICY worker_access ON memory.episodes TO nexus_worker USING (true);
CREATE POLICY worker_access ON memory.semantic_memories TO nexus_worker USING (true);
CREATE POLICY worker_access ON memory.working_memory TO nexus_worker USING (true);
