-- The instance network (registry with leases) and 2/3-quorum proposals with one row per vote.

CREATE TABLE instance_network (
    instance_id         uuid PRIMARY KEY,
    instance_name       text NOT NULL UNIQUE,
    instance_type       text NOT NULL CHECK (instance_type IN ('primary', 'worker', 'specialized')),
    location            text NOT NULL,
    capabilities        text[] NOT NULL DEFAULT '{}',
    endpoints           text[] NOT NULL DEFAULT '{}',
    public_key          bytea NOT NULL CHECK (octet_length(public_key) = 32),
    voting              boolean NOT NULL,
    deregistered        boolean NOT NULL DEFAULT false,
    -- The last accepted signed request (registration, heartbeat, deregistration): later ones must
    -- not be older, so a captured request cannot be replayed after a newer one.
    last_sign_time      timestamptz NOT NULL,
    last_signature      bytea NOT NULL,
    last_sync           timestamptz NOT NULL,
    lease_expire_time   timestamptz NOT NULL,
    offline_time        timestamptz NOT NULL CHECK (offline_time >= lease_expire_time),
    -- The status last announced to watchers; reads derive the current one from the lease.
    announced_status    text NOT NULL CHECK (announced_status IN ('active', 'standby', 'offline')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX instance_network_location_idx ON instance_network (location);
CREATE INDEX instance_network_capabilities_idx ON instance_network USING gin (capabilities);

-- The status of an instance at time `at`, from its lease (one definition for every query).
CREATE FUNCTION consensus_instance_status(deregistered boolean, lease_expire_time timestamptz,
                                offline_time timestamptz, at timestamptz)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN deregistered THEN 'offline'
        WHEN at < lease_expire_time THEN 'active'
        WHEN at < offline_time THEN 'standby'
        ELSE 'offline'
    END
$$;

-- The state of a proposal at time `at`: an open proposal past its deadline is expired, even before
-- a sweeper has written it.
CREATE FUNCTION consensus_proposal_state(state text, deadline timestamptz, at timestamptz)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN state = 'open' AND deadline <= at THEN 'expired' ELSE state END
$$;

CREATE TABLE distributed_consensus (
    consensus_id        uuid PRIMARY KEY,
    request_id          uuid NOT NULL UNIQUE,
    decision_topic      text NOT NULL,
    options             text[] NOT NULL CHECK (cardinality(options) >= 2),
    proposed_by         uuid NOT NULL REFERENCES instance_network (instance_id),
    proposer_public_key bytea NOT NULL,
    proposer_signature  bytea NOT NULL,
    deadline            timestamptz NOT NULL,
    electorate_size     integer NOT NULL CHECK (electorate_size > 0),
    quorum              integer NOT NULL CHECK (quorum > 0 AND quorum <= electorate_size),
    state               text NOT NULL CHECK (state IN ('open', 'decided', 'rejected', 'expired')),
    final_decision      text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    resolved_at         timestamptz,
    CHECK ((state = 'decided') = (final_decision IS NOT NULL)),
    CHECK ((state = 'open') = (resolved_at IS NULL))
);

CREATE INDEX distributed_consensus_created_idx ON distributed_consensus (created_at DESC, consensus_id DESC);
CREATE INDEX distributed_consensus_open_deadline_idx ON distributed_consensus (deadline) WHERE state = 'open';
CREATE INDEX distributed_consensus_proposer_idx ON distributed_consensus (proposed_by);

-- The electorate frozen at creation, with the keys its votes verify against.
CREATE TABLE consensus_electors (
    consensus_id        uuid NOT NULL REFERENCES distributed_consensus (consensus_id),
    instance_id         uuid NOT NULL REFERENCES instance_network (instance_id),
    instance_name       text NOT NULL,
    public_key          bytea NOT NULL,
    PRIMARY KEY (consensus_id, instance_id)
);

-- One counted vote per elector per proposal.
CREATE TABLE consensus_votes (
    consensus_id        uuid NOT NULL,
    voter_id            uuid NOT NULL,
    choice              text NOT NULL,
    signature           bytea NOT NULL,
    cast_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consensus_id, voter_id),
    FOREIGN KEY (consensus_id, voter_id) REFERENCES consensus_electors (consensus_id, instance_id)
);

-- Refused, validly signed votes that conflict with the voter's counted vote.
CREATE TABLE consensus_equivocations (
    consensus_id        uuid NOT NULL,
    voter_id            uuid NOT NULL,
    choice              text NOT NULL,
    signature           bytea NOT NULL,
    detected_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consensus_id, voter_id, choice),
    FOREIGN KEY (consensus_id, voter_id) REFERENCES consensus_votes (consensus_id, voter_id)
);
