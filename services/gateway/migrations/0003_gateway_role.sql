-- The gateway's own least-privilege role, `cerebro_gateway`, created without login (setup gives it
-- one: `cerebro migrate` from CEREBRO_GATEWAY_DATABASE_PASSWORD(_FILE), or the database operator).
-- It reads credentials and grants, which only the operator tools write as the owner, and writes
-- only what the gateway itself keeps: cross-learning, shared emotions and task assignments. It
-- deletes nothing. Roles belong to the whole cluster; one that exists already is fine.
DO $$
BEGIN
    CREATE ROLE cerebro_gateway NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created earlier, by another database's migration, or by the database operator
END;
$$;

GRANT USAGE ON SCHEMA gateway TO cerebro_gateway;
GRANT SELECT ON gateway.api_keys, gateway.certificate_bindings, gateway.read_grants TO cerebro_gateway;
GRANT SELECT, INSERT ON gateway.learnings, gateway.learning_subscriptions, gateway.task_assignments
    TO cerebro_gateway;
GRANT SELECT, INSERT, UPDATE ON gateway.learning_deliveries, gateway.shared_emotions TO cerebro_gateway;

-- Until now the gateway ran as the memory API's role, `nexus_app` (0002); that role needs none of this.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nexus_app') THEN
        REVOKE ALL ON ALL TABLES IN SCHEMA gateway FROM nexus_app;
        REVOKE ALL ON ALL SEQUENCES IN SCHEMA gateway FROM nexus_app;
        REVOKE USAGE ON SCHEMA gateway FROM nexus_app;
    END IF;
END
$$;
