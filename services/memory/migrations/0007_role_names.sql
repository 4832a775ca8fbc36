-- The memory roles are named for what they serve, as cerebro_gateway and cerebro_consensus are,
-- rather than after one agent instance:
--   nexus_app     -> cerebro_memory          the memory API
--   nexus_worker  -> cerebro_memory_worker   the embeddings and reconciliation workers
--   nexus_ro      -> cerebro_memory_reader   read-only queries
--
-- Roles belong to the whole cluster, and several databases may share one:
-- - The first database migrated here renames each old role in place. Its privileges in every
--   database, its memberships and its password (a SCRAM verifier survives a rename) go with it.
-- - A database migrated later finds the new role already there, and the old one again: its own 0003
--   has just created it. This database's privileges and policies move from the old role to the new
--   one, and the old role is dropped unless another database still uses it.
-- - An old role this owner may not rename (created by someone else, e.g. a database operator's
--   managed role) is handled the same way, the new role being created without a login first.

DO $$
DECLARE
    names text[];
    old_name text;
    new_name text;
    granted record;
    policy record;
BEGIN
    FOREACH names SLICE 1 IN ARRAY ARRAY[
        ['nexus_app', 'cerebro_memory'],
        ['nexus_worker', 'cerebro_memory_worker'],
        ['nexus_ro', 'cerebro_memory_reader']
    ] LOOP
        old_name := names[1];
        new_name := names[2];
        CONTINUE WHEN to_regrole(old_name) IS NULL;
        IF to_regrole(new_name) IS NULL THEN
            BEGIN
                EXECUTE format('ALTER ROLE %I RENAME TO %I', old_name, new_name);
            EXCEPTION
                WHEN insufficient_privilege THEN
                    EXECUTE format('CREATE ROLE %I NOLOGIN', new_name);
                WHEN duplicate_object OR undefined_object THEN
                    NULL;  -- renamed meanwhile by another database's migration
            END;
            CONTINUE WHEN to_regrole(old_name) IS NULL;
        END IF;

        -- Every privilege the old role holds in this database, as "<privilege> ON <object>".
        FOR granted IN
            SELECT format('%s ON %s %s', a.privilege_type,
                          CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.oid::regclass) AS what
            FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) AS a
            WHERE a.grantee = to_regrole(old_name)
            UNION ALL
            SELECT format('%s (%I) ON TABLE %s', a.privilege_type, t.attname, t.attrelid::regclass)
            FROM pg_attribute t CROSS JOIN LATERAL aclexplode(t.attacl) AS a
            WHERE a.grantee = to_regrole(old_name)
            UNION ALL
            SELECT format('%s ON SCHEMA %I', a.privilege_type, n.nspname)
            FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) AS a
            WHERE a.grantee = to_regrole(old_name)
            UNION ALL
            SELECT format('%s ON ROUTINE %s', a.privilege_type, p.oid::regprocedure)
            FROM pg_proc p CROSS JOIN LATERAL aclexplode(p.proacl) AS a
            WHERE a.grantee = to_regrole(old_name)
            UNION ALL
            SELECT format('%s ON DATABASE %I', a.privilege_type, d.datname)
            FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) AS a
            WHERE d.datname = current_database() AND a.grantee = to_regrole(old_name)
        LOOP
            EXECUTE format('GRANT %s TO %I', granted.what, new_name);
            EXECUTE format('REVOKE %s FROM %I', granted.what, old_name);
        END LOOP;

        -- Row-level security policies that name the old role name the new one instead.
        FOR policy IN
            SELECT pol.polname, pol.polrelid::regclass AS target,
                   (SELECT string_agg(DISTINCT quote_ident(CASE WHEN r.oid = to_regrole(old_name) THEN new_name
                                                                ELSE r.rolname END), ', ')
                    FROM unnest(pol.polroles) AS member (role_oid) JOIN pg_roles r ON r.oid = member.role_oid) AS roles
            FROM pg_policy pol
            WHERE to_regrole(old_name) = ANY (pol.polroles)
        LOOP
            EXECUTE format('ALTER POLICY %I ON %s TO %s', policy.polname, policy.target, policy.roles);
        END LOOP;

        BEGIN
            EXECUTE format('DROP ROLE %I', old_name);
        EXCEPTION WHEN dependent_objects_still_exist OR insufficient_privilege THEN
            RAISE NOTICE 'role % holds nothing in this database any more, but is kept: %', old_name, SQLERRM;
        END;
    END LOOP;
END;
$$;
