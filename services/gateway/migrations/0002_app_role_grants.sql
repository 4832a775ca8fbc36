-- The gateway runs as the least-privilege API role `nexus_app` when deployed (it is created by the
-- memory migrations, which `cerebro migrate` applies first). Where the role does not exist (a
-- gateway-only test database), there is nobody to grant to.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nexus_app') THEN
        GRANT USAGE ON SCHEMA gateway TO nexus_app;
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA gateway TO nexus_app;
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA gateway TO nexus_app;
    END IF;
END
$$;
