-- The consensus service's own least-privilege role, `cerebro_consensus`, created without login
-- (setup gives it one: `cerebro migrate` from CEREBRO_CONSENSUS_DATABASE_PASSWORD(_FILE), or the
-- database operator). It registers instances and records proposals, electors, votes and
-- equivocations; it deletes nothing, and votes and evidence once written are never changed.
-- Roles belong to the whole cluster; one that exists already is fine.
DO $$
BEGIN
    CREATE ROLE cerebro_consensus NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created earlier, by another database's migration, or by the database operator
END;
$$;

GRANT USAGE ON SCHEMA public TO cerebro_consensus;
GRANT SELECT, INSERT, UPDATE ON instance_network, distributed_consensus TO cerebro_consensus;
GRANT SELECT, INSERT ON consensus_electors, consensus_votes, consensus_equivocations TO cerebro_consensus;

-- Enrolments (consensus migration 0002, where present) are written only by operators, through
-- `cerebro instances enroll` as the owner; the service only reads them.
DO $$
BEGIN
    IF to_regclass('instance_enrollments') IS NOT NULL THEN
        GRANT SELECT ON instance_enrollments TO cerebro_consensus;
    END IF;
END
$$;
