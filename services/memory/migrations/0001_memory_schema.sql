-- The memory service's tables: document 000's schema with its corrections, and a namespace (the
-- owning agent instance) on every memory row. Everything lives in the `memory` schema, so no code
-- can query a table under an old name (BUG_002).

CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA IF NOT EXISTS memory;

CREATE TABLE memory.namespaces (
    name         text        PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    display_name text        NOT NULL DEFAULT '' CHECK (char_length(display_name) <= 255),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Creates carrying a client request id record a digest of the request: a retry with the same id and
-- digest returns the stored row, the same id with another digest is refused.
CREATE TABLE memory.projects (
    project_id     uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    namespace      text        NOT NULL REFERENCES memory.namespaces (name),
    display_name   text        NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 255),
    dna            text        CHECK (char_length(dna) BETWEEN 1 AND 100),
    description    text        NOT NULL DEFAULT '',
    status         text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'paused')),
    metadata       jsonb       NOT NULL DEFAULT '{}',
    request_id     uuid,
    request_digest bytea,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (namespace, display_name),
    UNIQUE (namespace, dna),
    UNIQUE (namespace, request_id),
    -- Target of the episodes' foreign key, which keeps an episode's project in its own namespace.
    UNIQUE (project_id, namespace)
);
CREATE INDEX projects_list_idx ON memory.projects (namespace, created_at DESC, project_id DESC);

CREATE TABLE memory.episodes (
    episode_id        uuid             PRIMARY KEY DEFAULT gen_random_uuid(),
    namespace         text             NOT NULL REFERENCES memory.namespaces (name),
    content           text             NOT NULL CHECK (btrim(content) <> ''),
    -- SHA-256 of the full UTF-8 content (set by a trigger): the embedding pipeline's idempotency key.
    content_checksum  bytea            NOT NULL,
    importance        double precision NOT NULL DEFAULT 0.5 CHECK (importance BETWEEN 0 AND 1),
    tags              text[]           NOT NULL DEFAULT '{}',
    metadata          jsonb            NOT NULL DEFAULT '{}',
    project_id        uuid,
    occurred_at       timestamptz      NOT NULL DEFAULT now(),
    embedding         vector(384),
    embedding_version text,
    embedded_at       timestamptz,
    search_vector     tsvector         GENERATED ALWAYS AS (to_tsvector('english'::regconfig, content)) STORED,
    request_id        uuid,
    request_digest    bytea,
    created_at        timestamptz      NOT NULL DEFAULT now(),
    updated_at        timestamptz      NOT NULL DEFAULT now(),
    FOREIGN KEY (project_id, namespace) REFERENCES memory.projects (project_id, namespace)
        ON DELETE SET NULL (project_id),
    UNIQUE (namespace, request_id),
    CHECK ((embedding IS NULL) = (embedding_version IS NULL))
);
CREATE INDEX episodes_list_idx ON memory.episodes (namespace, occurred_at DESC, episode_id DESC);
CREATE INDEX episodes_project_idx ON memory.episodes (project_id) WHERE project_id IS NOT NULL;
CREATE INDEX episodes_tags_idx ON memory.episodes USING gin (tags);
CREATE INDEX episodes_search_idx ON memory.episodes USING gin (search_vector);
CREATE INDEX episodes_embedding_idx ON memory.episodes
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX episodes_embedding_version_idx ON memory.episodes (embedding_version) WHERE embedding IS NOT NULL;

CREATE TABLE memory.semantic_memories (
    semantic_memory_id uuid             PRIMARY KEY DEFAULT gen_random_uuid(),
    namespace          text             NOT NULL REFERENCES memory.namespaces (name),
    concept            text             NOT NULL CHECK (char_length(concept) BETWEEN 1 AND 500 AND btrim(concept) <> ''),
    definition         text             NOT NULL DEFAULT '',
    relationships      jsonb            NOT NULL DEFAULT '{}',
    confidence         double precision NOT NULL DEFAULT 0.5 CHECK (confidence BETWEEN 0 AND 1),
    source_episode_ids uuid[]           NOT NULL DEFAULT '{}',
    -- SHA-256 of the embedded text, concept || E'\n' || definition (set by a trigger).
    content_checksum   bytea            NOT NULL,
    embedding          vector(384),
    embedding_version  text,
    embedded_at        timestamptz,
    search_vector      tsvector         GENERATED ALWAYS AS
        (to_tsvector('english'::regconfig, concept || E'\n' || definition)) STORED,
    request_id         uuid,
    request_digest     bytea,
    created_at         timestamptz      NOT NULL DEFAULT now(),
    updated_at         timestamptz      NOT NULL DEFAULT now(),
    UNIQUE (namespace, request_id),
    CHECK ((embedding IS NULL) = (embedding_version IS NULL))
);
CREATE INDEX semantic_memories_list_idx ON memory.semantic_memories (namespace, created_at DESC, semantic_memory_id DESC);
CREATE INDEX semantic_memories_search_idx ON memory.semantic_memories USING gin (search_vector);
CREATE INDEX semantic_memories_embedding_idx ON memory.semantic_memories
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX semantic_memories_embedding_version_idx ON memory.semantic_memories (embedding_version)
    WHERE embedding IS NOT NULL;

CREATE TABLE memory.working_memory (
    item_id        uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    namespace      text        NOT NULL REFERENCES memory.namespaces (name),
    context_type   text        NOT NULL CHECK (char_length(context_type) BETWEEN 1 AND 100),
    content        jsonb       NOT NULL,
    priority       text        NOT NULL DEFAULT 'normal' CHECK (priority IN ('critical', 'high', 'normal', 'low')),
    ttl_seconds    integer     NOT NULL CHECK (ttl_seconds BETWEEN 1 AND 2592000),
    expires_at     timestamptz NOT NULL,
    version        bigint      NOT NULL DEFAULT 1,
    request_id     uuid,
    request_digest bytea,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (namespace, request_id)
);
CREATE INDEX working_memory_list_idx ON memory.working_memory (namespace, created_at DESC, item_id DESC);
CREATE INDEX working_memory_expiry_idx ON memory.working_memory (expires_at);

-- Identity: memory blocks with their full version history.
CREATE TABLE memory.memory_blocks (
    block_id       uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    namespace      text        NOT NULL REFERENCES memory.namespaces (name),
    label          text        NOT NULL CHECK (label ~ '^[a-z][a-z0-9_]{0,254}$'),
    description    text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 1000),
    value          text        NOT NULL,
    char_limit     integer     NOT NULL DEFAULT 2000 CHECK (char_limit BETWEEN 1 AND 100000),
    read_only      boolean     NOT NULL DEFAULT false,
    version        bigint      NOT NULL DEFAULT 1,
    request_id     uuid,
    request_digest bytea,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (namespace, label),
    UNIQUE (namespace, request_id),
    CHECK (char_length(value) <= char_limit)
);

CREATE TABLE memory.memory_block_revisions (
    block_id    uuid        NOT NULL REFERENCES memory.memory_blocks (block_id) ON DELETE CASCADE,
    version     bigint      NOT NULL,
    namespace   text        NOT NULL,
    description text        NOT NULL,
    value       text        NOT NULL,
    char_limit  integer     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (block_id, version)
);

-- Every insert, and every update that changes the version, is recorded in the history.
CREATE FUNCTION memory.record_block_revision() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = memory, pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.version <> OLD.version THEN
        INSERT INTO memory.memory_block_revisions (block_id, version, namespace, description, value, char_limit, created_at)
        VALUES (NEW.block_id, NEW.version, NEW.namespace, NEW.description, NEW.value, NEW.char_limit, NEW.updated_at);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER memory_blocks_revision AFTER INSERT OR UPDATE ON memory.memory_blocks
    FOR EACH ROW EXECUTE FUNCTION memory.record_block_revision();

CREATE TABLE memory.checkpoints (
    checkpoint_id   uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    namespace       text        NOT NULL REFERENCES memory.namespaces (name),
    checkpoint_type text        NOT NULL CHECK (char_length(checkpoint_type) BETWEEN 1 AND 100),
    state_data      jsonb       NOT NULL,
    identity_hash   text        NOT NULL CHECK (identity_hash ~ '^[0-9a-f]{64}$'),
    -- {label: hex SHA-256 of the block's canonical serialisation}: what the continuity score compares.
    block_digests   jsonb       NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}',
    request_id      uuid,
    request_digest  bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (namespace, request_id)
);
CREATE INDEX checkpoints_list_idx ON memory.checkpoints (namespace, created_at DESC, checkpoint_id DESC);
CREATE INDEX checkpoints_type_idx ON memory.checkpoints (namespace, checkpoint_type, created_at DESC);

-- One running state per namespace.
CREATE TABLE memory.consciousness_states (
    namespace         text             PRIMARY KEY REFERENCES memory.namespaces (name),
    current_focus     text             NOT NULL DEFAULT '',
    emotion_focus     double precision CHECK (emotion_focus BETWEEN 0 AND 1),
    emotion_energy    double precision CHECK (emotion_energy BETWEEN 0 AND 1),
    emotion_excitement double precision CHECK (emotion_excitement BETWEEN 0 AND 1),
    working_context   jsonb            NOT NULL DEFAULT '{}',
    active_projects   text[]           NOT NULL DEFAULT '{}',
    metadata          jsonb            NOT NULL DEFAULT '{}',
    last_heartbeat_at timestamptz      NOT NULL DEFAULT now(),
    updated_at        timestamptz      NOT NULL DEFAULT now(),
    version           bigint           NOT NULL DEFAULT 1,
    CHECK (num_nulls(emotion_focus, emotion_energy, emotion_excitement) IN (0, 3))
);
