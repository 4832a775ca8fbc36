-- Vectors in tables of their own. Storing a vector used to write a new version of the whole episode
-- (or semantic memory) row: every index of the table took a new entry (both GIN indexes, the B-trees,
-- the HNSW index), the stored search_vector was computed again and the update triggers copied the
-- rows, all on the cores the model needs. Now storing a vector inserts one narrow row: only its
-- primary key and its HNSW index pay.
--
-- A vector row exists only for a subject whose current content it embeds: a content change or a
-- delete removes it in the same transaction (the triggers below), as clearing the columns did. The
-- worker stores vectors only of the jobs it completed in the same transaction, and completing locks
-- the job's queue row, which every content change and delete also writes (resets or deletes), so the
-- two are ordered: docs/architecture.md, "Embeddings pipeline".

CREATE TABLE memory.episode_vectors (
    episode_id        uuid        PRIMARY KEY,
    -- The episode's namespace (row-level security, and the vector ranking's filter).
    namespace         text        NOT NULL,
    embedding         vector(384) NOT NULL,
    embedding_version text        NOT NULL,
    embedded_at       timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE memory.semantic_memory_vectors (
    semantic_memory_id uuid        PRIMARY KEY,
    namespace          text        NOT NULL,
    embedding          vector(384) NOT NULL,
    embedding_version  text        NOT NULL,
    embedded_at        timestamptz NOT NULL DEFAULT now()
);

INSERT INTO memory.episode_vectors (episode_id, namespace, embedding, embedding_version, embedded_at)
SELECT episode_id, namespace, embedding, embedding_version, coalesce(embedded_at, now())
FROM memory.episodes WHERE embedding IS NOT NULL;
INSERT INTO memory.semantic_memory_vectors (semantic_memory_id, namespace, embedding, embedding_version, embedded_at)
SELECT semantic_memory_id, namespace, embedding, embedding_version, coalesce(embedded_at, now())
FROM memory.semantic_memories WHERE embedding IS NOT NULL;

CREATE INDEX episode_vectors_embedding_idx ON memory.episode_vectors
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX episode_vectors_version_idx ON memory.episode_vectors (embedding_version);
CREATE INDEX episode_vectors_namespace_idx ON memory.episode_vectors (namespace);
CREATE INDEX semantic_memory_vectors_embedding_idx ON memory.semantic_memory_vectors
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX semantic_memory_vectors_version_idx ON memory.semantic_memory_vectors (embedding_version);
CREATE INDEX semantic_memory_vectors_namespace_idx ON memory.semantic_memory_vectors (namespace);

-- Content checksums only: the vector of old content is deleted by the enqueue triggers.
CREATE OR REPLACE FUNCTION memory.episodes_before_write() RETURNS trigger
    LANGUAGE plpgsql SET search_path = memory, pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.content IS DISTINCT FROM OLD.content THEN
        NEW.content_checksum := sha256(convert_to(NEW.content, 'UTF8'));
    END IF;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION memory.semantic_memories_before_write() RETURNS trigger
    LANGUAGE plpgsql SET search_path = memory, pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.concept IS DISTINCT FROM OLD.concept
            OR NEW.definition IS DISTINCT FROM OLD.definition THEN
        NEW.content_checksum := sha256(convert_to(NEW.concept || E'\n' || NEW.definition, 'UTF8'));
    END IF;
    RETURN NEW;
END;
$$;

-- The queue write comes first: it waits for a worker holding the job, so the vector that worker
-- stored is visible to the delete that follows (a new snapshot per statement).
CREATE OR REPLACE FUNCTION memory.enqueue_episodes() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = memory, pg_catalog AS $$
DECLARE
    queued boolean;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO memory.embeddings_queue (namespace, episode_id, content_checksum, priority)
        SELECT n.namespace, n.episode_id, n.content_checksum, memory.embedding_priority(n.importance)
        FROM new_rows n;
        queued := FOUND;
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
        queued := FOUND;
        IF queued THEN
            DELETE FROM memory.episode_vectors v
            USING new_rows n JOIN old_rows o USING (episode_id)
            WHERE v.episode_id = n.episode_id AND n.content_checksum <> o.content_checksum;
        END IF;
    END IF;
    IF queued THEN
        PERFORM pg_notify('cerebro_embeddings', '');
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION memory.enqueue_semantic_memories() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = memory, pg_catalog AS $$
DECLARE
    queued boolean;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO memory.embeddings_queue (namespace, semantic_memory_id, content_checksum, priority)
        SELECT n.namespace, n.semantic_memory_id, n.content_checksum, memory.embedding_priority(n.confidence)
        FROM new_rows n;
        queued := FOUND;
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
        queued := FOUND;
        IF queued THEN
            DELETE FROM memory.semantic_memory_vectors v
            USING new_rows n JOIN old_rows o USING (semantic_memory_id)
            WHERE v.semantic_memory_id = n.semantic_memory_id AND n.content_checksum <> o.content_checksum;
        END IF;
    END IF;
    IF queued THEN
        PERFORM pg_notify('cerebro_embeddings', '');
    END IF;
    RETURN NULL;
END;
$$;

-- A deleted subject's vector goes with it (its queue row goes by the queue's foreign key first,
-- which waits for a worker holding the job).
CREATE FUNCTION memory.delete_episode_vectors() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = memory, pg_catalog AS $$
BEGIN
    DELETE FROM memory.episode_vectors v USING old_rows o WHERE v.episode_id = o.episode_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER episodes_delete_vectors AFTER DELETE ON memory.episodes
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION memory.delete_episode_vectors();

CREATE FUNCTION memory.delete_semantic_memory_vectors() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = memory, pg_catalog AS $$
BEGIN
    DELETE FROM memory.semantic_memory_vectors v USING old_rows o WHERE v.semantic_memory_id = o.semantic_memory_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER semantic_memories_delete_vectors AFTER DELETE ON memory.semantic_memories
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION memory.delete_semantic_memory_vectors();

DROP INDEX memory.episodes_embedding_idx, memory.episodes_embedding_version_idx,
    memory.semantic_memories_embedding_idx, memory.semantic_memories_embedding_version_idx;
ALTER TABLE memory.episodes DROP COLUMN embedding, DROP COLUMN embedding_version, DROP COLUMN embedded_at;
ALTER TABLE memory.semantic_memories DROP COLUMN embedding, DROP COLUMN embedding_version, DROP COLUMN embedded_at;

-- The memory API reads vectors (search, the full view, stats); the workers write them and delete
-- none; only the triggers above delete.
GRANT SELECT ON memory.episode_vectors, memory.semantic_memory_vectors TO cerebro_memory, cerebro_memory_reader;
GRANT SELECT, INSERT, UPDATE ON memory.episode_vectors, memory.semantic_memory_vectors TO cerebro_memory_worker;
ALTER TABLE memory.episode_vectors ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory.semantic_memory_vectors ENABLE ROW LEVEL SECURITY;
CREATE POLICY namespace_isolation ON memory.episode_vectors TO cerebro_memory, cerebro_memory_reader
    USING (namespace = current_setting('cerebro.namespace', true));
CREATE POLICY namespace_isolation ON memory.semantic_memory_vectors TO cerebro_memory, cerebro_memory_reader
    USING (namespace = current_setting('cerebro.namespace', true));
CREATE POLICY worker_access ON memory.episode_vectors TO cerebro_memory_worker USING (true);
CREATE POLICY worker_access ON memory.semantic_memory_vectors TO cerebro_memory_worker USING (true);
