-- The learning outbox becomes a job table of the runtime kit's leased queue
-- (cerebro.runtime.leased_queue, keyed by `sequence`), so that replicas claim, complete and retry
-- deliveries the way every other queue does: a claim token and a lease instead of `claimed_until`.
-- `stored_at` and `semantic_memory_id` stay what the streams read: a delivery is sent once stored,
-- and `stored_at` is set in the transaction that completes its job.
ALTER TABLE gateway.learning_deliveries
    ADD COLUMN state           text        NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'processing', 'done', 'dead')),
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN claimed_at      timestamptz,
    ADD COLUMN locked_until    timestamptz,
    ADD COLUMN claimed_by      text,
    ADD COLUMN claim_token     uuid,
    ADD COLUMN completed_at    timestamptz;

-- Existing rows, in place. Stored deliveries are done. The others wait: those an older replica held
-- (a lease, or a retry's backoff, in `claimed_until`) until that time, so none is stored twice at once.
UPDATE gateway.learning_deliveries SET state = 'done', completed_at = stored_at WHERE stored_at IS NOT NULL;
UPDATE gateway.learning_deliveries SET next_attempt_at = greatest(claimed_until, now())
WHERE stored_at IS NULL AND claimed_until IS NOT NULL;

DROP INDEX gateway.learning_deliveries_to_store;
ALTER TABLE gateway.learning_deliveries DROP COLUMN claimed_until;

-- What the queue's claim and its reclaim of expired leases look for.
CREATE INDEX learning_deliveries_to_store ON gateway.learning_deliveries (sequence) WHERE state = 'pending';
CREATE INDEX learning_deliveries_leased ON gateway.learning_deliveries (locked_until) WHERE state = 'processing';

-- Grants: `cerebro_gateway` (0003) holds SELECT, INSERT and UPDATE on the whole table, which covers the
-- new columns, and the queue deletes nothing; the role needs no other privilege.
