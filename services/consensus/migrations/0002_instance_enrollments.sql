-- Enrolment: the public keys an operator vouched for (`cerebro instances enroll`), one row per act.
--
-- An agent-type (primary, specialized) or voting instance registers only with the key enrolled for its
-- name, and a name enrolled for a key belongs to that key; the electorate of a proposal is the active
-- voting instances whose registered key is enrolled for a vote. Rows are never deleted: revoking sets
-- revoked_at, enrolling again adds a row, so the table is the audit trail and tells, for any moment,
-- which keys were enrolled (what `reverify` checks a proposal's electorate against).

CREATE TABLE instance_enrollments (
    enrollment_id       uuid PRIMARY KEY,
    instance_name       text NOT NULL CHECK (instance_name <> ''),
    public_key          bytea NOT NULL CHECK (octet_length(public_key) = 32),
    voting              boolean NOT NULL,
    -- Who: the operator as the command names them (user@host), and the database login that wrote it.
    enrolled_by         text NOT NULL,
    enrolled_as         text NOT NULL DEFAULT session_user,
    enrolled_at         timestamptz NOT NULL DEFAULT now(),
    revoked_by          text,
    revoked_as          text,
    revoked_at          timestamptz,
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL) AND (revoked_at IS NULL) = (revoked_as IS NULL)),
    CHECK (revoked_at IS NULL OR revoked_at >= enrolled_at)
);

-- At most one active enrolment per name, and one name per key.
CREATE UNIQUE INDEX instance_enrollments_active_name_idx ON instance_enrollments (instance_name)
    WHERE revoked_at IS NULL;
CREATE UNIQUE INDEX instance_enrollments_active_key_idx ON instance_enrollments (public_key)
    WHERE revoked_at IS NULL;
CREATE INDEX instance_enrollments_name_idx ON instance_enrollments (instance_name, enrolled_at);
