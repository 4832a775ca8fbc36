-- The memory writes other than episodes (0010) in one statement each: projects, memory blocks, working
-- memory, checkpoints, consciousness state and semantic memory. A memory service far from the primary
-- pays one network round trip per write instead of BEGIN, the namespace scope, the statements and COMMIT.
--
-- As in 0010: each function enters the caller's namespace (memory.enter_namespace: row-level security
-- for the statement's own transaction, CB404 when the namespace does not exist), then works as the
-- caller (SECURITY INVOKER, no SET clause: see 0010's header), so the namespace_isolation policies and
-- the caller's table privileges apply to every row it touches. No dynamic SQL: an update names the
-- fields it changes in a boolean array, in the order of its new_* parameters.
--
-- What the service turns into statuses (services/memory/store/*):
--   CB404                        the namespace does not exist               -> NOT_FOUND
--   no row                       no such resource in the namespace           -> NOT_FOUND
--                                (a create: its request id's earlier row was deleted -> ALREADY_EXISTS)
--   created = false              an earlier create of the same request id; request_digest tells
--                                whether it was the same request             -> the row, or ALREADY_EXISTS
--   23505 (unique_violation)     a project's name or dna, a block's label    -> ALREADY_EXISTS
--   outcome (blocks)             read_only -> FAILED_PRECONDITION, version_mismatch -> ABORTED,
--                                too_long -> INVALID_ARGUMENT; the block is returned unchanged
--
-- Every function returns where it left the WAL and its transaction id (written_lsn, written_xid): the
-- read token a replica must have replayed before it serves the writer's next read.

-- Projects -------------------------------------------------------------------------------------------

CREATE FUNCTION memory.create_project(
    namespace_name text,
    new_display_name text,
    new_dna text,
    new_description text,
    new_status text,
    new_metadata jsonb,
    new_request_id uuid,
    new_request_digest bytea
) RETURNS TABLE (
    project_id uuid, namespace text, display_name text, dna text, description text, status text, metadata jsonb,
    created_at timestamptz, updated_at timestamptz, request_digest bytea, created boolean,
    written_lsn pg_lsn, written_xid xid8
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    RETURN QUERY
        INSERT INTO memory.projects AS p
            (namespace, display_name, dna, description, status, metadata, request_id, request_digest)
        VALUES (namespace_name, new_display_name, new_dna, new_description, new_status, new_metadata,
                new_request_id, new_request_digest)
        ON CONFLICT (namespace, request_id) DO NOTHING
        RETURNING p.project_id, p.namespace, p.display_name, p.dna, p.description, p.status, p.metadata,
                  p.created_at, p.updated_at, p.request_digest, true,
                  pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned();
    IF NOT FOUND THEN
        RETURN QUERY
            SELECT p.project_id, p.namespace, p.display_name, p.dna, p.description, p.status, p.metadata,
                   p.created_at, p.updated_at, p.request_digest, false,
                   pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned()
            FROM memory.projects p WHERE p.namespace = namespace_name AND p.request_id = new_request_id;
    END IF;
END
$$;

-- `changing` flags display_name, dna, description, status, metadata.
CREATE FUNCTION memory.update_project(
    namespace_name text,
    wanted_project_id uuid,
    changing boolean[],
    new_display_name text,
    new_dna text,
    new_description text,
    new_status text,
    new_metadata jsonb
) RETURNS TABLE (
    project_id uuid, namespace text, display_name text, dna text, description text, status text, metadata jsonb,
    created_at timestamptz, updated_at timestamptz, written_lsn pg_lsn, written_xid xid8
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    RETURN QUERY
        UPDATE memory.projects AS p SET
            updated_at = now(),
            display_name = CASE WHEN changing[1] THEN new_display_name ELSE p.display_name END,
            dna = CASE WHEN changing[2] THEN new_dna ELSE p.dna END,
            description = CASE WHEN changing[3] THEN new_description ELSE p.description END,
            status = CASE WHEN changing[4] THEN new_status ELSE p.status END,
            metadata = CASE WHEN changing[5] THEN new_metadata ELSE p.metadata END
        WHERE p.namespace = namespace_name AND p.project_id = wanted_project_id
        RETURNING p.project_id, p.namespace, p.display_name, p.dna, p.description, p.status, p.metadata,
                  p.created_at, p.updated_at, pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned();
END
$$;

CREATE FUNCTION memory.delete_project(namespace_name text, wanted_project_id uuid)
RETURNS TABLE (deleted boolean, written_lsn pg_lsn, written_xid xid8)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
    removed integer;
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    DELETE FROM memory.projects p WHERE p.namespace = namespace_name AND p.project_id = wanted_project_id;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN QUERY SELECT removed > 0, pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned();
END
$$;

-- Memory blocks --------------------------------------------------------------------------------------

CREATE FUNCTION memory.create_memory_block(
    namespace_name text,
    new_label text,
    new_description text,
    new_value text,
    new_char_limit integer,
    new_read_only boolean,
    new_request_id uuid,
    new_request_digest bytea
) RETURNS TABLE (
    block_id uuid, namespace text, label text, description text, value text, char_limit integer,
    read_only boolean, version bigint, created_at timestamptz, updated_at timestamptz,
    request_digest bytea, created boolean, written_lsn pg_lsn, written_xid xid8
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    RETURN QUERY
        INSERT INTO memory.memory_blocks AS b
            (namespace, label, description, value, char_limit, read_only, request_id, request_digest)
        VALUES (namespace_name, new_label, new_description, new_value, new_char_limit, new_read_only,
                new_request_id, new_request_digest)
        ON CONFLICT (namespace, request_id) DO NOTHING
        RETURNING b.block_id, b.namespace, b.label, b.description, b.value, b.char_limit, b.read_only, b.version,
                  b.created_at, b.updated_at, b.request_digest, true,
                  pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned();
    IF NOT FOUND THEN
        RETURN QUERY
            SELECT b.block_id, b.namespace, b.label, b.description, b.value, b.char_limit, b.read_only, b.version,
                   b.created_at, b.updated_at, b.request_digest, false,
                   pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned()
            FROM memory.memory_blocks b WHERE b.namespace = namespace_name AND b.request_id = new_request_id;
    END IF;
END
$$;

-- Why a locked block may not be changed or deleted: read_only, version_mismatch, or NULL (it may).
CREATE FUNCTION memory.block_refusal(block memory.memory_blocks, expected_version bigint) RETURNS text
    LANGUAGE sql IMMUTABLE SECURITY INVOKER AS $$
    SELECT CASE
        WHEN block.read_only THEN 'read_only'
        WHEN expected_version IS NOT NULL AND expected_version <> block.version THEN 'version_mismatch'
    END
$$;

-- Locks the block, then changes it only when it is writable, at the expected version (when given), and
-- its value fits its character limit after the change; `outcome` says which (updated, read_only,
-- version_mismatch, too_long), with the block as it is now. `changing` flags description, value,
-- char_limit. The revision trigger of 0001 records the new version.
CREATE FUNCTION memory.update_memory_block(
    namespace_name text,
    wanted_block_id uuid,
    expected_version bigint,
    changing boolean[],
    new_description text,
    new_value text,
    new_char_limit integer
) RETURNS TABLE (
    block_id uuid, namespace text, label text, description text, value text, char_limit integer,
    read_only boolean, version bigint, created_at timestamptz, updated_at timestamptz,
    outcome text, written_lsn pg_lsn, written_xid xid8
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
DECLARE
    locked memory.memory_blocks%ROWTYPE;
    refusal text;
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    SELECT * INTO locked FROM memory.memory_blocks b
    WHERE b.namespace = namespace_name AND b.block_id = wanted_block_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    refusal := memory.block_refusal(locked, expected_version);
    IF refusal IS NULL AND (char_length(CASE WHEN changing[2] THEN new_value ELSE locked.value END)
                             > CASE WHEN changing[3] THEN new_char_limit ELSE locked.char_limit END) THEN
        refusal := 'too_long';
    END IF;
    IF refusal IS NOT NULL THEN
        RETURN QUERY SELECT locked.block_id, locked.namespace, locked.label, locked.description, locked.value,
                            locked.char_limit, locked.read_only, locked.version, locked.created_at,
                            locked.updated_at, refusal, pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned();
        RETURN;
    END IF;
    RETURN QUERY
        UPDATE memory.memory_blocks AS b SET
            description = CASE WHEN changing[1] THEN new_description ELSE b.description END,
            value = CASE WHEN changing[2] THEN new_value ELSE b.value END,
            char_limit = CASE WHEN changing[3] THEN new_char_limit ELSE b.char_limit END,
            version = b.version + 1,
            updated_at = now()
        WHERE b.namespace = namespace_name AND b.block_id = wanted_block_id
        RETURNING b.block_id, b.namespace, b.label, b.description, b.value, b.char_limit, b.read_only, b.version,
                  b.created_at, b.updated_at, 'updated'::text,
                  pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned();
END
$$;

-- Locks the block and deletes it when writable at the expected version; `outcome` is deleted,
-- read_only or version_mismatch, with the block's label and version. No row when there is no such block.
CREATE FUNCTION memory.delete_memory_block(namespace_name text, wanted_block_id uuid, expected_version bigint)
RETURNS TABLE (label text, version bigint, outcome text, written_lsn pg_lsn, written_xid xid8)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
DECLARE
    locked memory.memory_blocks%ROWTYPE;
    refusal text;
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    SELECT * INTO locked FROM memory.memory_blocks b
    WHERE b.namespace = namespace_name AND b.block_id = wanted_block_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    refusal := memory.block_refusal(locked, expected_version);
    IF refusal IS NULL THEN
        DELETE FROM memory.memory_blocks b WHERE b.namespace = namespace_name AND b.block_id = wanted_block_id;
    END IF;
    RETURN QUERY SELECT locked.label, locked.version, coalesce(refusal, 'deleted'),
                        pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned();
END
$$;

-- Working memory -------------------------------------------------------------------------------------

CREATE FUNCTION memory.create_working_memory_item(
    namespace_name text,
    new_context_type text,
    new_content jsonb,
    new_priority text,
    new_ttl_seconds integer,
    new_ttl interval,
    new_request_id uuid,
    new_request_digest bytea
) RETURNS TABLE (
    item_id uuid, namespace text, context_type text, content jsonb, priority text, expires_at timestamptz,
    created_at timestamptz, updated_at timestamptz, version bigint,
    request_digest bytea, created boolean, written_lsn pg_lsn, written_xid xid8
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    RETURN QUERY
        INSERT INTO memory.working_memory AS w
            (namespace, context_type, content, priority, ttl_seconds, expires_at, request_id, request_digest)
        VALUES (namespace_name, new_context_type, new_content, new_priority, new_ttl_seconds, now() + new_ttl,
                new_request_id, new_request_digest)
        ON CONFLICT (namespace, request_id) DO NOTHING
        RETURNING w.item_id, w.namespace, w.context_type, w.content, w.priority, w.expires_at, w.created_at,
                  w.updated_at, w.version, w.request_digest, true,
                  pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned();
    IF NOT FOUND THEN
        RETURN QUERY
            SELECT w.item_id, w.namespace, w.context_type, w.content, w.priority, w.expires_at, w.created_at,
                   w.updated_at, w.version, w.request_digest, false,
                   pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned()
            FROM memory.working_memory w WHERE w.namespace = namespace_name AND w.request_id = new_request_id;
    END IF;
END
$$;

-- `changing` flags content, priority, ttl (ttl_seconds and the expiry from now). An expired item is gone.
CREATE FUNCTION memory.update_working_memory_item(
    namespace_name text,
    wanted_item_id uuid,
    changing boolean[],
    new_content jsonb,
    new_priority text,
    new_ttl_seconds integer,
    new_ttl interval
) RETURNS TABLE (
    item_id uuid, namespace text, context_type text, content jsonb, priority text, expires_at timestamptz,
    created_at timestamptz, updated_at timestamptz, version bigint, written_lsn pg_lsn, written_xid xid8
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    RETURN QUERY
        UPDATE memory.working_memory AS w SET
            updated_at = now(),
            version = w.version + 1,
            content = CASE WHEN changing[1] THEN new_content ELSE w.content END,
            priority = CASE WHEN changing[2] THEN new_priority ELSE w.priority END,
            ttl_seconds = CASE WHEN changing[3] THEN new_ttl_seconds ELSE w.ttl_seconds END,
            expires_at = CASE WHEN changing[3] THEN now() + new_ttl ELSE w.expires_at END
        WHERE w.namespace = namespace_name AND w.item_id = wanted_item_id AND w.expires_at > now()
        RETURNING w.item_id, w.namespace, w.context_type, w.content, w.priority, w.expires_at, w.created_at,
                  w.updated_at, w.version, pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned();
END
$$;

CREATE FUNCTION memory.delete_working_memory_item(namespace_name text, wanted_item_id uuid)
RETURNS TABLE (deleted boolean, written_lsn pg_lsn, written_xid xid8)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
    removed integer;
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    DELETE FROM memory.working_memory w
    WHERE w.namespace = namespace_name AND w.item_id = wanted_item_id AND w.expires_at > now();
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN QUERY SELECT removed > 0, pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned();
END
$$;

-- Checkpoints ----------------------------------------------------------------------------------------

-- A block's digest as services/memory/identity_hash.py computes it: the hex SHA-256 of the canonical JSON
-- of what it says (keys sorted, no spaces, non-ASCII as is; to_json escapes strings as Python's json does
-- with ensure_ascii off). tests/memory/test_identity.py holds the two to the same digests.
CREATE FUNCTION memory.block_digest(
    label text, description text, value text, char_limit integer, read_only boolean
) RETURNS text
    LANGUAGE sql STABLE STRICT SECURITY INVOKER AS $$
    SELECT encode(sha256(convert_to(
        '{"char_limit":' || char_limit::text
        || ',"description":' || to_json(description)::text
        || ',"label":' || to_json(label)::text
        || ',"read_only":' || CASE WHEN read_only THEN 'true' ELSE 'false' END
        || ',"value":' || to_json(value)::text || '}',
        'UTF8')), 'hex')
$$;

-- Hashes the namespace's blocks as they are in this transaction and stores the checkpoint with the
-- identity: the hex SHA-256 of the JSON list of [label, digest] pairs in label order, and the digests by
-- label (identity_hash.py's identity_of).
CREATE FUNCTION memory.create_checkpoint(
    namespace_name text,
    new_checkpoint_type text,
    new_state_data jsonb,
    new_metadata jsonb,
    new_request_id uuid,
    new_request_digest bytea
) RETURNS TABLE (
    checkpoint_id uuid, namespace text, checkpoint_type text, state_data jsonb, identity_hash text,
    block_digests jsonb, metadata jsonb, created_at timestamptz,
    request_digest bytea, created boolean, written_lsn pg_lsn, written_xid xid8
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
DECLARE
    digests jsonb;
    identity text;
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    SELECT coalesce(jsonb_object_agg(d.label, d.digest), '{}'::jsonb),
           encode(sha256(convert_to(
               '[' || coalesce(string_agg('[' || to_json(d.label)::text || ',"' || d.digest || '"]', ','
                                          ORDER BY d.label COLLATE "C"), '') || ']',
               'UTF8')), 'hex')
    INTO digests, identity
    FROM (SELECT b.label, memory.block_digest(b.label, b.description, b.value, b.char_limit, b.read_only) AS digest
          FROM memory.memory_blocks b WHERE b.namespace = namespace_name) AS d;
    RETURN QUERY
        INSERT INTO memory.checkpoints AS c
            (namespace, checkpoint_type, state_data, identity_hash, block_digests, metadata,
             request_id, request_digest)
        VALUES (namespace_name, new_checkpoint_type, new_state_data, identity, digests, new_metadata,
                new_request_id, new_request_digest)
        ON CONFLICT (namespace, request_id) DO NOTHING
        RETURNING c.checkpoint_id, c.namespace, c.checkpoint_type, c.state_data, c.identity_hash, c.block_digests,
                  c.metadata, c.created_at, c.request_digest, true,
                  pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned();
    IF NOT FOUND THEN
        RETURN QUERY
            SELECT c.checkpoint_id, c.namespace, c.checkpoint_type, c.state_data, c.identity_hash, c.block_digests,
                   c.metadata, c.created_at, c.request_digest, false,
                   pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned()
            FROM memory.checkpoints c WHERE c.namespace = namespace_name AND c.request_id = new_request_id;
    END IF;
END
$$;

-- Consciousness state --------------------------------------------------------------------------------

-- Creates the state with its defaults on first use (version 1), then changes the columns flagged in
-- `changing` (current_focus, the emotional vector's three, working_context, active_projects, metadata);
-- a change of an existing state is a new version. Either way the heartbeat is now.
CREATE FUNCTION memory.update_consciousness_state(
    namespace_name text,
    changing boolean[],
    new_current_focus text,
    new_emotion_focus double precision,
    new_emotion_energy double precision,
    new_emotion_excitement double precision,
    new_working_context jsonb,
    new_active_projects text[],
    new_metadata jsonb
) RETURNS TABLE (
    namespace text, current_focus text, emotion_focus double precision, emotion_energy double precision,
    emotion_excitement double precision, working_context jsonb, active_projects text[], metadata jsonb,
    last_heartbeat_at timestamptz, updated_at timestamptz, version bigint, written_lsn pg_lsn, written_xid xid8
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
DECLARE
    first_use boolean;
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    INSERT INTO memory.consciousness_states AS s (namespace) VALUES (namespace_name)
    ON CONFLICT (namespace) DO NOTHING;
    first_use := FOUND;
    RETURN QUERY
        UPDATE memory.consciousness_states AS s SET
            current_focus = CASE WHEN changing[1] THEN new_current_focus ELSE s.current_focus END,
            emotion_focus = CASE WHEN changing[2] THEN new_emotion_focus ELSE s.emotion_focus END,
            emotion_energy = CASE WHEN changing[2] THEN new_emotion_energy ELSE s.emotion_energy END,
            emotion_excitement = CASE WHEN changing[2] THEN new_emotion_excitement ELSE s.emotion_excitement END,
            working_context = CASE WHEN changing[3] THEN new_working_context ELSE s.working_context END,
            active_projects = CASE WHEN changing[4] THEN new_active_projects ELSE s.active_projects END,
            metadata = CASE WHEN changing[5] THEN new_metadata ELSE s.metadata END,
            version = CASE WHEN first_use THEN s.version ELSE s.version + 1 END,
            updated_at = now(),
            last_heartbeat_at = now()
        WHERE s.namespace = namespace_name
        RETURNING s.namespace, s.current_focus, s.emotion_focus, s.emotion_energy, s.emotion_excitement,
                  s.working_context, s.active_projects, s.metadata, s.last_heartbeat_at, s.updated_at, s.version,
                  pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned();
END
$$;

CREATE FUNCTION memory.heartbeat(namespace_name text) RETURNS TABLE (
    namespace text, current_focus text, emotion_focus double precision, emotion_energy double precision,
    emotion_excitement double precision, working_context jsonb, active_projects text[], metadata jsonb,
    last_heartbeat_at timestamptz, updated_at timestamptz, version bigint, written_lsn pg_lsn, written_xid xid8
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    RETURN QUERY
        INSERT INTO memory.consciousness_states AS s (namespace) VALUES (namespace_name)
        ON CONFLICT (namespace) DO UPDATE SET last_heartbeat_at = now()
        RETURNING s.namespace, s.current_focus, s.emotion_focus, s.emotion_energy, s.emotion_excitement,
                  s.working_context, s.active_projects, s.metadata, s.last_heartbeat_at, s.updated_at, s.version,
                  pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned();
END
$$;

-- Semantic memory ------------------------------------------------------------------------------------

-- The semantic memory as the service reads it (with its embedding's version and job state), for the
-- functions below; the triggers of 0002 and 0008 have enqueued or dropped its embedding already.
CREATE FUNCTION memory.semantic_memory_row(namespace_name text, wanted_id uuid) RETURNS TABLE (
    semantic_memory_id uuid, namespace text, concept text, definition text, relationships jsonb,
    confidence double precision, source_episode_ids uuid[], created_at timestamptz, updated_at timestamptz,
    embedding_version text, job_state text, request_digest bytea
)
    LANGUAGE sql STABLE SECURITY INVOKER AS $$
    SELECT e.semantic_memory_id, e.namespace, e.concept, e.definition, e.relationships, e.confidence,
           e.source_episode_ids, e.created_at, e.updated_at,
           (SELECT v.embedding_version FROM memory.semantic_memory_vectors v
            WHERE v.semantic_memory_id = e.semantic_memory_id),
           (SELECT q.state FROM memory.embeddings_queue q WHERE q.semantic_memory_id = e.semantic_memory_id),
           e.request_digest
    FROM memory.semantic_memories e WHERE e.namespace = namespace_name AND e.semantic_memory_id = wanted_id
$$;

CREATE FUNCTION memory.create_semantic_memory(
    namespace_name text,
    new_concept text,
    new_definition text,
    new_relationships jsonb,
    new_confidence double precision,
    new_source_episode_ids uuid[],
    new_request_id uuid,
    new_request_digest bytea
) RETURNS TABLE (
    semantic_memory_id uuid, namespace text, concept text, definition text, relationships jsonb,
    confidence double precision, source_episode_ids uuid[], created_at timestamptz, updated_at timestamptz,
    embedding_version text, job_state text, request_digest bytea, created boolean,
    written_lsn pg_lsn, written_xid xid8
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
DECLARE
    inserted uuid;
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    INSERT INTO memory.semantic_memories AS e
        (namespace, concept, definition, relationships, confidence, source_episode_ids, request_id, request_digest)
    VALUES (namespace_name, new_concept, new_definition, new_relationships, new_confidence, new_source_episode_ids,
            new_request_id, new_request_digest)
    ON CONFLICT (namespace, request_id) DO NOTHING
    RETURNING e.semantic_memory_id INTO inserted;
    RETURN QUERY
        SELECT r.*, inserted IS NOT NULL, pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned()
        FROM memory.semantic_memory_row(
            namespace_name,
            coalesce(inserted, (SELECT e.semantic_memory_id FROM memory.semantic_memories e
                                WHERE e.namespace = namespace_name AND e.request_id = new_request_id))
        ) AS r;
END
$$;

-- `changing` flags concept, definition, relationships, confidence, source_episode_ids.
CREATE FUNCTION memory.update_semantic_memory(
    namespace_name text,
    wanted_id uuid,
    changing boolean[],
    new_concept text,
    new_definition text,
    new_relationships jsonb,
    new_confidence double precision,
    new_source_episode_ids uuid[]
) RETURNS TABLE (
    semantic_memory_id uuid, namespace text, concept text, definition text, relationships jsonb,
    confidence double precision, source_episode_ids uuid[], created_at timestamptz, updated_at timestamptz,
    embedding_version text, job_state text, written_lsn pg_lsn, written_xid xid8
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    UPDATE memory.semantic_memories AS e SET
        updated_at = now(),
        concept = CASE WHEN changing[1] THEN new_concept ELSE e.concept END,
        definition = CASE WHEN changing[2] THEN new_definition ELSE e.definition END,
        relationships = CASE WHEN changing[3] THEN new_relationships ELSE e.relationships END,
        confidence = CASE WHEN changing[4] THEN new_confidence ELSE e.confidence END,
        source_episode_ids = CASE WHEN changing[5] THEN new_source_episode_ids ELSE e.source_episode_ids END
    WHERE e.namespace = namespace_name AND e.semantic_memory_id = wanted_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT r.semantic_memory_id, r.namespace, r.concept, r.definition, r.relationships, r.confidence,
               r.source_episode_ids, r.created_at, r.updated_at, r.embedding_version, r.job_state,
               pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned()
        FROM memory.semantic_memory_row(namespace_name, wanted_id) AS r;
END
$$;

CREATE FUNCTION memory.delete_semantic_memory(namespace_name text, wanted_id uuid)
RETURNS TABLE (deleted boolean, written_lsn pg_lsn, written_xid xid8)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
    removed integer;
BEGIN
    PERFORM memory.enter_namespace(namespace_name);
    DELETE FROM memory.semantic_memories e WHERE e.namespace = namespace_name AND e.semantic_memory_id = wanted_id;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN QUERY SELECT removed > 0, pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned();
END
$$;

-- Least privilege: only the memory API's role may call them; the reader role may not (it lacks the
-- table rights to write anyway: SECURITY INVOKER).
REVOKE ALL ON FUNCTION
    memory.create_project(text, text, text, text, text, jsonb, uuid, bytea),
    memory.update_project(text, uuid, boolean[], text, text, text, text, jsonb),
    memory.delete_project(text, uuid),
    memory.create_memory_block(text, text, text, text, integer, boolean, uuid, bytea),
    memory.block_refusal(memory.memory_blocks, bigint),
    memory.update_memory_block(text, uuid, bigint, boolean[], text, text, integer),
    memory.delete_memory_block(text, uuid, bigint),
    memory.create_working_memory_item(text, text, jsonb, text, integer, interval, uuid, bytea),
    memory.update_working_memory_item(text, uuid, boolean[], jsonb, text, integer, interval),
    memory.delete_working_memory_item(text, uuid),
    memory.block_digest(text, text, text, integer, boolean),
    memory.create_checkpoint(text, text, jsonb, jsonb, uuid, bytea),
    memory.update_consciousness_state(text, boolean[], text, double precision, double precision, double precision,
                                      jsonb, text[], jsonb),
    memory.heartbeat(text),
    memory.semantic_memory_row(text, uuid),
    memory.create_semantic_memory(text, text, text, jsonb, double precision, uuid[], uuid, bytea),
    memory.update_semantic_memory(text, uuid, boolean[], text, text, jsonb, double precision, uuid[]),
    memory.delete_semantic_memory(text, uuid)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    memory.create_project(text, text, text, text, text, jsonb, uuid, bytea),
    memory.update_project(text, uuid, boolean[], text, text, text, text, jsonb),
    memory.delete_project(text, uuid),
    memory.create_memory_block(text, text, text, text, integer, boolean, uuid, bytea),
    memory.block_refusal(memory.memory_blocks, bigint),
    memory.update_memory_block(text, uuid, bigint, boolean[], text, text, integer),
    memory.delete_memory_block(text, uuid, bigint),
    memory.create_working_memory_item(text, text, jsonb, text, integer, interval, uuid, bytea),
    memory.update_working_memory_item(text, uuid, boolean[], jsonb, text, integer, interval),
    memory.delete_working_memory_item(text, uuid),
    memory.block_digest(text, text, text, integer, boolean),
    memory.create_checkpoint(text, text, jsonb, jsonb, uuid, bytea),
    memory.update_consciousness_state(text, boolean[], text, double precision, double precision, double precision,
                                      jsonb, text[], jsonb),
    memory.heartbeat(text),
    memory.semantic_memory_row(text, uuid),
    memory.create_semantic_memory(text, text, text, jsonb, double precision, uuid[], uuid, bytea),
    memory.update_semantic_memory(text, uuid, boolean[], text, text, jsonb, double precision, uuid[]),
    memory.delete_semantic_memory(text, uuid)
TO cerebro_memory;
