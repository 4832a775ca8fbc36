-- The episode calls in one statement each, so that a memory service far from the primary pays
-- one network round trip per call instead of BEGIN, the namespace scope, the statements and COMMIT.
--
-- Each function declares the caller's namespace for row-level security itself (set_config(..., true):
-- for the statement's own transaction), checks that the namespace exists, then works as the caller
-- (SECURITY INVOKER): the namespace_isolation policies of 0003 apply to every row it touches, exactly
-- as to the statements the service sent before. No function here has a SET clause: PostgreSQL undoes
-- a function's transaction-local settings when a function with a SET clause returns, which would drop
-- the namespace before the queries that need it (every name is schema-qualified instead).
--
-- Errors the service turns into statuses (services/memory/store/round_trip.py):
--   CB404  the namespace does not exist                         -> NOT_FOUND
--   CB422  project ids that are not projects of the namespace,  -> INVALID_ARGUMENT
--          listed comma-separated in DETAIL
--
-- A write also returns where it left the WAL and its transaction id: the read token a replica must
-- have replayed before it may serve the writer's next read (services/memory/consistency.py).

CREATE FUNCTION memory.enter_namespace(namespace_name text) RETURNS void
    LANGUAGE plpgsql SECURITY INVOKER AS $$
BEGIN
    PERFORM set_config('cerebro.namespace', namespace_name, true);
    IF NOT EXISTS (SELECT 1 FROM memory.namespaces n WHERE n.name = namespace_name) THEN
        RAISE EXCEPTION 'namespace % does not exist', namespace_name USING ERRCODE = 'CB404';
    END IF;
END
$$;

-- Inserts episodes in input order; an episode whose request id was used before is not inserted again:
-- the earlier row comes back with created = false (and its request digest, for the service to compare),
-- or a row of NULLs when that earlier row was deleted since.
CREATE FUNCTION memory.create_episodes(
    namespace_name text,
    episode_ids uuid[],
    contents text[],
    importances double precision[],
    tag_lists text[],
    metadata_values text[],
    project_ids uuid[],
    occurred_ats timestamptz[],
    request_ids uuid[],
    request_digests bytea[]
) RETURNS TABLE (
    episode_id uuid, namespace text, content text, importance double precision, tags text[], metadata jsonb,
    project_id uuid, occurred_at timestamptz, created_at timestamptz, updated_at timestamptz,
    embedding_version text, job_state text, request_digest bytea, created boolean,
    written_lsn pg_lsn, written_xid xid8
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
DECLARE
    missing uuid[];
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    missing := ARRAY(
        SELECT DISTINCT wanted.id FROM unnest(project_ids) AS wanted(id)
        WHERE wanted.id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM memory.projects p WHERE p.namespace = namespace_name AND p.project_id = wanted.id));
    IF cardinality(missing) > 0 THEN
        RAISE EXCEPTION 'projects do not exist in namespace %', namespace_name
            USING ERRCODE = 'CB422', DETAIL = array_to_string(missing, ',');
    END IF;
    -- Tags travel as JSON text: nested lists would be read as a multidimensional array.
    INSERT INTO memory.episodes AS e
        (episode_id, namespace, content, importance, tags, metadata, project_id, occurred_at,
         request_id, request_digest)
    SELECT t.episode_id, namespace_name, t.content, t.importance,
           ARRAY(SELECT jsonb_array_elements_text(t.tags::jsonb)), t.metadata::jsonb, t.project_id,
           coalesce(t.occurred_at, now()), t.request_id, t.request_digest
    FROM unnest(episode_ids, contents, importances, tag_lists, metadata_values, project_ids, occurred_ats,
                request_ids, request_digests)
         AS t(episode_id, content, importance, tags, metadata, project_id, occurred_at, request_id, request_digest)
    ON CONFLICT (namespace, request_id) DO NOTHING;
    RETURN QUERY
        SELECT e.episode_id, e.namespace, e.content, e.importance, e.tags, e.metadata, e.project_id,
               e.occurred_at, e.created_at, e.updated_at,
               (SELECT v.embedding_version FROM memory.episode_vectors v WHERE v.episode_id = e.episode_id),
               (SELECT q.state FROM memory.embeddings_queue q WHERE q.episode_id = e.episode_id),
               e.request_digest, e.episode_id = wanted.episode_id,
               pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned()
        FROM unnest(episode_ids, request_ids) WITH ORDINALITY AS wanted(episode_id, request_id, position)
        LEFT JOIN LATERAL (
            SELECT * FROM memory.episodes x WHERE x.namespace = namespace_name AND x.episode_id = wanted.episode_id
            UNION ALL
            SELECT * FROM memory.episodes x
            WHERE x.namespace = namespace_name AND x.request_id = wanted.request_id
              AND x.episode_id <> wanted.episode_id
            LIMIT 1
        ) AS e ON true
        ORDER BY wanted.position;
END
$$;

-- One episode (without its vector); no row when the namespace has no such episode.
CREATE FUNCTION memory.get_episode(namespace_name text, wanted_episode_id uuid) RETURNS TABLE (
    episode_id uuid, namespace text, content text, importance double precision, tags text[], metadata jsonb,
    project_id uuid, occurred_at timestamptz, created_at timestamptz, updated_at timestamptz,
    embedding_version text, job_state text
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    RETURN QUERY
        SELECT e.episode_id, e.namespace, e.content, e.importance, e.tags, e.metadata, e.project_id,
               e.occurred_at, e.created_at, e.updated_at,
               (SELECT v.embedding_version FROM memory.episode_vectors v WHERE v.episode_id = e.episode_id),
               (SELECT q.state FROM memory.embeddings_queue q WHERE q.episode_id = e.episode_id)
        FROM memory.episodes e WHERE e.namespace = namespace_name AND e.episode_id = wanted_episode_id;
END
$$;

-- A page of episodes (without their vectors), newest first by (occurred_at, episode_id), after the key
-- (after_time, after_id) when given; each NULL filter is no filter. The statement is planned for the
-- filters given (EXECUTE), as the service's own statement was.
CREATE FUNCTION memory.list_episodes(
    namespace_name text,
    filter_project_id uuid,
    filter_tags text[],
    filter_start timestamptz,
    filter_end timestamptz,
    filter_min_importance double precision,
    after_time timestamptz,
    after_id uuid,
    max_rows integer
) RETURNS TABLE (
    episode_id uuid, namespace text, content text, importance double precision, tags text[], metadata jsonb,
    project_id uuid, occurred_at timestamptz, created_at timestamptz, updated_at timestamptz,
    embedding_version text, job_state text
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
    statement text := 'SELECT e.episode_id, e.namespace, e.content, e.importance, e.tags, e.metadata, e.project_id,
               e.occurred_at, e.created_at, e.updated_at,
               (SELECT v.embedding_version FROM memory.episode_vectors v WHERE v.episode_id = e.episode_id),
               (SELECT q.state FROM memory.embeddings_queue q WHERE q.episode_id = e.episode_id)
        FROM memory.episodes e WHERE e.namespace = $1';
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    IF filter_project_id IS NOT NULL THEN statement := statement || ' AND e.project_id = $2'; END IF;
    IF cardinality(filter_tags) > 0 THEN statement := statement || ' AND e.tags @> $3'; END IF;
    IF filter_start IS NOT NULL THEN statement := statement || ' AND e.occurred_at >= $4'; END IF;
    IF filter_end IS NOT NULL THEN statement := statement || ' AND e.occurred_at < $5'; END IF;
    IF filter_min_importance IS NOT NULL THEN statement := statement || ' AND e.importance >= $6'; END IF;
    IF after_time IS NOT NULL THEN statement := statement || ' AND (e.occurred_at, e.episode_id) < ($7, $8)'; END IF;
    statement := statement || ' ORDER BY e.occurred_at DESC, e.episode_id DESC LIMIT $9';
    RETURN QUERY EXECUTE statement USING namespace_name, filter_project_id, filter_tags, filter_start, filter_end,
        filter_min_importance, after_time, after_id, max_rows;
END
$$;

-- Changes the fields flagged in `changing` (content, importance, tags, metadata, project, occurred_at);
-- clearing the project is changing it to NULL. No row when the namespace has no such episode. The
-- triggers of 0002, 0006 and 0008 re-enqueue the embedding and recount the text statistics when the content
-- changed, as for the service's own UPDATE before.
CREATE FUNCTION memory.update_episode(
    namespace_name text,
    wanted_episode_id uuid,
    changing boolean[],
    new_content text,
    new_importance double precision,
    new_tags text[],
    new_metadata jsonb,
    new_project_id uuid,
    new_occurred_at timestamptz
) RETURNS TABLE (
    episode_id uuid, namespace text, content text, importance double precision, tags text[], metadata jsonb,
    project_id uuid, occurred_at timestamptz, created_at timestamptz, updated_at timestamptz,
    embedding_version text, job_state text, written_lsn pg_lsn, written_xid xid8
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    IF changing[5] AND new_project_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM memory.projects p WHERE p.namespace = namespace_name AND p.project_id = new_project_id
    ) THEN
        RAISE EXCEPTION 'projects do not exist in namespace %', namespace_name
            USING ERRCODE = 'CB422', DETAIL = new_project_id::text;
    END IF;
    UPDATE memory.episodes e SET
        updated_at = now(),
        content = CASE WHEN changing[1] THEN new_content ELSE e.content END,
        importance = CASE WHEN changing[2] THEN new_importance ELSE e.importance END,
        tags = CASE WHEN changing[3] THEN new_tags ELSE e.tags END,
        metadata = CASE WHEN changing[4] THEN new_metadata ELSE e.metadata END,
        project_id = CASE WHEN changing[5] THEN new_project_id ELSE e.project_id END,
        occurred_at = CASE WHEN changing[6] THEN new_occurred_at ELSE e.occurred_at END
    WHERE e.namespace = namespace_name AND e.episode_id = wanted_episode_id;
    RETURN QUERY
        SELECT e.episode_id, e.namespace, e.content, e.importance, e.tags, e.metadata, e.project_id,
               e.occurred_at, e.created_at, e.updated_at,
               (SELECT v.embedding_version FROM memory.episode_vectors v WHERE v.episode_id = e.episode_id),
               (SELECT q.state FROM memory.embeddings_queue q WHERE q.episode_id = e.episode_id),
               pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned()
        FROM memory.episodes e WHERE e.namespace = namespace_name AND e.episode_id = wanted_episode_id;
END
$$;

-- Whether the namespace had the episode (deleted now), and the read token of the deletion.
CREATE FUNCTION memory.delete_episode(namespace_name text, wanted_episode_id uuid)
RETURNS TABLE (deleted boolean, written_lsn pg_lsn, written_xid xid8)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
    removed integer;
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    DELETE FROM memory.episodes e WHERE e.namespace = namespace_name AND e.episode_id = wanted_episode_id;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN QUERY SELECT removed > 0, pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned();
END
$$;

REVOKE ALL ON FUNCTION
    memory.enter_namespace(text),
    memory.create_episodes(text, uuid[], text[], double precision[], text[], text[], uuid[], timestamptz[],
                           uuid[], bytea[]),
    memory.get_episode(text, uuid),
    memory.list_episodes(text, uuid, text[], timestamptz, timestamptz, double precision, timestamptz, uuid, integer),
    memory.update_episode(text, uuid, boolean[], text, double precision, text[], jsonb, uuid, timestamptz),
    memory.delete_episode(text, uuid)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    memory.enter_namespace(text),
    memory.create_episodes(text, uuid[], text[], double precision[], text[], text[], uuid[], timestamptz[],
                           uuid[], bytea[]),
    memory.get_episode(text, uuid),
    memory.list_episodes(text, uuid, text[], timestamptz, timestamptz, double precision, timestamptz, uuid, integer),
    memory.update_episode(text, uuid, boolean[], text, double precision, text[], jsonb, uuid, timestamptz),
    memory.delete_episode(text, uuid)
TO cerebro_memory;
GRANT EXECUTE ON FUNCTION
    memory.enter_namespace(text),
    memory.get_episode(text, uuid),
    memory.list_episodes(text, uuid, text[], timestamptz, timestamptz, double precision, timestamptz, uuid, integer)
TO cerebro_memory_reader;
