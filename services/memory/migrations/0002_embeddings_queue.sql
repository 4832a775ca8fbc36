-- The embedding pipeline (the BUG_003 fix): every insert or content change of an episode or a
-- semantic memory leaves exactly one job in this queue, and a worker drains it.
--
-- One row per embedded subject: a content change resets the subject's job instead of adding one.
-- States: pending -> processing (claimed, with a lease) -> done, or back to pending with a backoff,
-- or dead after the last attempt. A claim whose lease (locked_until) expired belongs to a worker
-- that died; the worker reclaims it, so no job stays in `processing` forever.

CREATE TABLE memory.embeddings_queue (
    job_id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace          text        NOT NULL,
    episode_id         uuid        UNIQUE REFERENCES memory.episodes (episode_id) ON DELETE CASCADE,
    semantic_memory_id uuid        UNIQUE REFERENCES memory.semantic_memories (semantic_memory_id) ON DELETE CASCADE,
    -- SHA-256 of the full text to embed at enqueue time (never a prefix of it).
    content_checksum   bytea       NOT NULL,
    state              text        NOT NULL DEFAULT 'pending'
                                   CHECK (state IN ('pending', 'processing', 'done', 'dead')),
    -- Higher first: 1 + 100 * importance for new content, 0 for re-embedding with a new model.
    priority           smallint    NOT NULL,
    attempts           integer     NOT NULL DEFAULT 0,
    last_error         text,
    enqueued_at        timestamptz NOT NULL DEFAULT now(),
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    claimed_at         timestamptz,
    locked_until       timestamptz,
    claimed_by         text,
    claim_token        uuid,
    completed_at       timestamptz,
    CHECK (num_nonnulls(episode_id, semantic_memory_id) = 1),
    CHECK ((state = 'processing') = (locked_until IS NOT NULL AND claim_token IS NOT NULL))
);
CREATE INDEX embeddings_queue_claim_idx ON memory.embeddings_queue (priority DESC, next_attempt_at, job_id)
    WHERE state = 'pending';
CREATE INDEX embeddings_queue_lease_idx ON memory.embeddings_queue (locked_until) WHERE state = 'processing';
CREATE INDEX embeddings_queue_stats_idx ON memory.embeddings_queue (namespace, state);

CREATE FUNCTION memory.embedding_priority(importance double precision) RETURNS smallint
    LANGUAGE sql IMMUTABLE AS $$ SELECT (1 + round(100 * importance))::smallint $$;

-- Content checksums, and no stale vector: a content change drops the old embedding at once.
CREATE FUNCTION memory.episodes_before_write() RETURNS trigger
    LANGUAGE plpgsql SET search_path = memory, pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.content IS DISTINCT FROM OLD.content THEN
        NEW.content_checksum := sha256(convert_to(NEW.content, 'UTF8'));
        IF TG_OP = 'UPDATE' THEN
            NEW.embedding := NULL;
            NEW.embedding_version := NULL;
            NEW.embedded_at := NULL;
        END IF;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER episodes_before_write BEFORE INSERT OR UPDATE ON memory.episodes
    FOR EACH ROW EXECUTE FUNCTION memory.episodes_before_write();

CREATE FUNCTION memory.semantic_memories_before_write() RETURNS trigger
    LANGUAGE plpgsql SET search_path = memory, pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.concept IS DISTINCT FROM OLD.concept
            OR NEW.definition IS DISTINCT FROM OLD.definition THEN
        NEW.content_checksum := sha256(convert_to(NEW.concept || E'\n' || NEW.definition, 'UTF8'));
        IF TG_OP = 'UPDATE' THEN
            NEW.embedding := NULL;
            NEW.embedding_version := NULL;
            NEW.embedded_at := NULL;
        END IF;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER semantic_memories_before_write BEFORE INSERT OR UPDATE ON memory.semantic_memories
    FOR EACH ROW EXECUTE FUNCTION memory.semantic_memories_before_write();

-- Statement-level triggers with transition tables: a batch insert of thousands of episodes is one
-- INSERT ... SELECT into the queue and one notification. SECURITY DEFINER so the API role needs no
-- write access to the queue.
CREATE FUNCTION memory.enqueue_episodes() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = memory, pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO memory.embeddings_queue (namespace, episode_id, content_checksum, priority)
        SELECT n.namespace, n.episode_id, n.content_checksum, memory.embedding_priority(n.importance)
        FROM new_rows n
        WHERE n.embedding IS NULL;
    ELSE
        INSERT INTO memory.embeddings_queue (namespace, episode_id, content_checksum, priority)
        SELECT n.namespace, n.episode_id, n.content_checksum, memory.embedding_priority(n.importance)
        FROM new_rows n JOIN old_rows o USING (episode_id)
        WHERE n.content_checksum <> o.content_checksum
        ON CONFLICT (episode_id) DO UPDATE
            SET content_checksum = EXCLUDED.content_checksum, priority = EXCLUDED.priority,
                state = 'pending', attempts = 0, last_error = NULL, enqueued_at = now(),
                next_attempt_at = now(), claimed_at = NULL, locked_until = NULL, claimed_by = NULL,
                claim_token = NULL, completed_at = NULL;
    END IF;
    IF FOUND THEN
        PERFORM pg_notify('cerebro_embeddings', '');
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER episodes_enqueue_insert AFTER INSERT ON memory.episodes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION memory.enqueue_episodes();
CREATE TRIGGER episodes_enqueue_update AFTER UPDATE ON memory.episodes
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION memory.enqueue_episodes();

CREATE FUNCTION memory.enqueue_semantic_memories() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = memory, pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO memory.embeddings_queue (namespace, semantic_memory_id, content_checksum, priority)
        SELECT n.namespace, n.semantic_memory_id, n.content_checksum, memory.embedding_priority(n.confidence)
        FROM new_rows n
        WHERE n.embedding IS NULL;
    ELSE
        INSERT INTO memory.embeddings_queue (namespace, semantic_memory_id, content_checksum, priority)
        SELECT n.namespace, n.semantic_memory_id, n.content_checksum, memory.embedding_priority(n.confidence)
        FROM new_rows n JOIN old_rows o USING (semantic_memory_id)
        WHERE n.content_checksum <> o.content_checksum
        ON CONFLICT (semantic_memory_id) DO UPDATE
            SET content_checksum = EXCLUDED.content_checksum, priority = EXCLUDED.priority,
                state = 'pending', attempts = 0, last_error = NULL, enqueued_at = now(),
                next_attempt_at = now(), claimed_at = NULL, locked_until = NULL, claimed_by = NULL,
                claim_token = NULL, completed_at = NULL;
    END IF;
    IF FOUND THEN
        PERFORM pg_notify('cerebro_embeddings', '');
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER semantic_memories_enqueue_insert AFTER INSERT ON memory.semantic_memories
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION memory.enqueue_semantic_memories();
CREATE TRIGGER semantic_memories_enqueue_update AFTER UPDATE ON memory.semantic_memories
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION memory.enqueue_semantic_memories();
