-- PurgeEpisodes in one statement, as the other episode calls (0010): a memory service far from the
-- primary pays one round trip instead of BEGIN, the namespace scope, the purge and COMMIT.
--
-- memory.purge_episodes enters the caller's namespace (memory.enter_namespace: row-level security for
-- the statement's own transaction, CB404 when the namespace does not exist) and works as the caller
-- (SECURITY INVOKER, no SET clause: see 0010's header). Without `really` it only counts, and may run on
-- a replica (it writes nothing); with it, it deletes the matching episodes (their embedding jobs and
-- vectors go by cascade) and returns the read token of the write. The sample is the newest matches.

-- The episodes a purge filter selects; a NULL argument does not filter. Plain SQL, so the planner
-- inlines it into the statement that uses it (and its indexes serve the filter).
CREATE FUNCTION memory.matching_episodes(
    namespace_name text,
    filter_project_id uuid,
    filter_tags text[],
    filter_start timestamptz,
    filter_end timestamptz,
    filter_min_importance double precision
) RETURNS TABLE (episode_id uuid, occurred_at timestamptz)
    LANGUAGE sql STABLE SECURITY INVOKER AS $$
    SELECT e.episode_id, e.occurred_at FROM memory.episodes e
    WHERE e.namespace = namespace_name
      AND (filter_project_id IS NULL OR e.project_id = filter_project_id)
      AND (filter_tags IS NULL OR e.tags @> filter_tags)
      AND (filter_start IS NULL OR e.occurred_at >= filter_start)
      AND (filter_end IS NULL OR e.occurred_at < filter_end)
      AND (filter_min_importance IS NULL OR e.importance >= filter_min_importance)
$$;

CREATE FUNCTION memory.purge_episodes(
    namespace_name text,
    filter_project_id uuid,
    filter_tags text[],
    filter_start timestamptz,
    filter_end timestamptz,
    filter_min_importance double precision,
    sample_size integer,
    really boolean
) RETURNS TABLE (purge_count bigint, purge_sample uuid[], written_lsn pg_lsn, written_xid xid8)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    -- Two statements, not one with a conditional DELETE: a replica refuses any DELETE, even of no rows.
    IF really THEN
        RETURN QUERY
            WITH purged AS (
                DELETE FROM memory.episodes e
                USING memory.matching_episodes(namespace_name, filter_project_id, filter_tags, filter_start,
                                               filter_end, filter_min_importance) m
                WHERE e.episode_id = m.episode_id
                RETURNING e.episode_id, e.occurred_at
            )
            SELECT (SELECT count(*) FROM purged),
                   ARRAY(SELECT p.episode_id FROM purged p
                         ORDER BY p.occurred_at DESC, p.episode_id DESC LIMIT sample_size),
                   pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned();
    ELSE
        RETURN QUERY
            WITH matching AS MATERIALIZED (
                SELECT * FROM memory.matching_episodes(namespace_name, filter_project_id, filter_tags,
                                                       filter_start, filter_end, filter_min_importance)
            )
            SELECT (SELECT count(*) FROM matching),
                   ARRAY(SELECT m.episode_id FROM matching m
                         ORDER BY m.occurred_at DESC, m.episode_id DESC LIMIT sample_size),
                   NULL::pg_lsn, NULL::xid8;
    END IF;
END
$$;

REVOKE ALL ON FUNCTION
    memory.matching_episodes(text, uuid, text[], timestamptz, timestamptz, double precision),
    memory.purge_episodes(text, uuid, text[], timestamptz, timestamptz, double precision, integer, boolean)
FROM PUBLIC;
-- The reader role may count through them (on a replica); deleting needs the table rights it lacks.
GRANT EXECUTE ON FUNCTION
    memory.matching_episodes(text, uuid, text[], timestamptz, timestamptz, double precision),
    memory.purge_episodes(text, uuid, text[], timestamptz, timestamptz, double precision, integer, boolean)
TO cerebro_memory, cerebro_memory_reader;
