-- The gateway's own state: credentials, read grants, cross-learning, shared emotions, task assignments.

CREATE SCHEMA IF NOT EXISTS gateway;

-- API keys. A key is "crb_<key_id>.<secret>"; only the SHA-256 of the secret is stored, so the
-- table cannot be turned back into usable keys. key_id is the public half, for lookup and revocation.
CREATE TABLE gateway.api_keys (
    key_id          text             PRIMARY KEY,
    secret_sha256   bytea            NOT NULL CHECK (length(secret_sha256) = 32),
    namespace       text             NOT NULL,
    -- The consensus instance this key acts for (Propose, Vote); NULL when it acts for none.
    instance_name   text,
    scope           text             NOT NULL CHECK (scope IN ('read-write', 'read-only')),
    label           text             NOT NULL DEFAULT '',
    -- Per-key rate limit; NULL means the gateway's default.
    rate_per_second double precision CHECK (rate_per_second > 0),
    burst           integer          CHECK (burst >= 1),
    created_at      timestamptz      NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
CREATE INDEX api_keys_by_namespace ON gateway.api_keys (namespace);

-- Client certificate identities (a SAN or the CN, as verified by mutual TLS), bound like keys.
CREATE TABLE gateway.certificate_bindings (
    identity        text             PRIMARY KEY,
    namespace       text             NOT NULL,
    instance_name   text,
    scope           text             NOT NULL CHECK (scope IN ('read-write', 'read-only')),
    label           text             NOT NULL DEFAULT '',
    rate_per_second double precision CHECK (rate_per_second > 0),
    burst           integer          CHECK (burst >= 1),
    created_at      timestamptz      NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);

-- Sharing: the grantee namespace may read the owner namespace's memories.
CREATE TABLE gateway.read_grants (
    owner_namespace   text        NOT NULL,
    grantee_namespace text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_namespace, grantee_namespace),
    CHECK (owner_namespace <> grantee_namespace)
);
CREATE INDEX read_grants_by_grantee ON gateway.read_grants (grantee_namespace);

-- Cross-learning. A namespace is subscribed from its first SubscribeLearnings on, durably.
CREATE TABLE gateway.learning_subscriptions (
    namespace  text        PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gateway.learnings (
    learning_id    uuid             PRIMARY KEY,
    publisher      text             NOT NULL,
    concept        text             NOT NULL,
    definition     text             NOT NULL,
    relationships  jsonb            NOT NULL,
    confidence     double precision CHECK (confidence BETWEEN 0 AND 1),
    -- Tells a repeated publication (same content) from a conflicting one (same id, other content).
    content_sha256 bytea            NOT NULL,
    published_at   timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX learnings_by_publisher ON gateway.learnings (publisher);

-- The outbox of each publication, one row per receiving namespace: first stored as semantic memory
-- in the receiver's namespace (by any gateway replica, under a lease), then streamed to the receiver
-- until it acknowledges.
CREATE TABLE gateway.learning_deliveries (
    sequence           bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    namespace          text        NOT NULL,
    learning_id        uuid        NOT NULL REFERENCES gateway.learnings ON DELETE CASCADE,
    semantic_memory_id uuid,
    stored_at          timestamptz,
    acknowledged_at    timestamptz,
    attempts           integer     NOT NULL DEFAULT 0,
    -- While set and in the future, a replica is storing the row (or waits to retry it).
    claimed_until      timestamptz,
    last_error         text,
    PRIMARY KEY (namespace, learning_id)
);
CREATE INDEX learning_deliveries_to_store ON gateway.learning_deliveries (sequence) WHERE stored_at IS NULL;
CREATE INDEX learning_deliveries_to_send ON gateway.learning_deliveries (namespace, sequence)
    WHERE stored_at IS NOT NULL AND acknowledged_at IS NULL;

-- Emotional sync: the vector each instance last shared.
CREATE TABLE gateway.shared_emotions (
    namespace  text             PRIMARY KEY,
    focus      double precision NOT NULL CHECK (focus BETWEEN 0 AND 1),
    energy     double precision NOT NULL CHECK (energy BETWEEN 0 AND 1),
    excitement double precision NOT NULL CHECK (excitement BETWEEN 0 AND 1),
    context    jsonb,
    updated_at timestamptz      NOT NULL DEFAULT now()
);

-- Task distribution: every assignment, for idempotent retries and as the load of each instance.
CREATE TABLE gateway.task_assignments (
    task_id               uuid        PRIMARY KEY,
    requester             text        NOT NULL,
    request_id            uuid        NOT NULL,
    request_sha256        bytea       NOT NULL,
    description           text        NOT NULL,
    required_capabilities text[]      NOT NULL,
    instance_id           uuid        NOT NULL,
    -- The chosen cerebro.consensus.v1.Instance as it was registered when chosen.
    instance              bytea       NOT NULL,
    matched_capabilities  text[]      NOT NULL,
    missing_capabilities  text[]      NOT NULL,
    in_preferred_region   boolean     NOT NULL,
    load                  integer     NOT NULL,
    candidate_count       integer     NOT NULL,
    reason                text        NOT NULL,
    assigned_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (requester, request_id)
);
CREATE INDEX task_assignments_by_instance ON gateway.task_assignments (instance_id, assigned_at);
