-- Register, CreateProposal and Vote in one statement each, so that a consensus replica far from the
-- primary pays one network round trip per write instead of BEGIN, a lock, each check, each write and
-- COMMIT (services/consensus/store/registry.py and proposals.py).
--
-- Every signature is verified by the service in Python before the call, with the key it passes in:
-- each function re-checks that the stored key is still that one and otherwise writes nothing and says
-- 'unverified', so the service verifies again with the stored key. Who may register what stays decided
-- in Python (services/consensus/admission.py): the service decides it for each enrolment the name can
-- have, and the function applies the decision for the enrolment it finds. The voting rules of
-- cerebro/consensus/rules.py that need the locked state (the tally's outcome, the quorum of an
-- electorate) are written once here as consensus_outcome and consensus_quorum, and
-- tests/consensus/test_rules_in_sql.py checks them against the Python rules.
--
-- Each also returns where it left the WAL and its transaction id (NULL when it wrote nothing): the read
-- token a replica must have replayed before it serves the caller's next read (cerebro/runtime/replica_reads.py).
--
-- SECURITY INVOKER (the default, said explicitly): each runs with the caller's rights (cerebro_consensus
-- of 0003), touching what the statements it replaces touched.

-- ceil(2n/3), as rules.quorum.
CREATE FUNCTION consensus_quorum(electorate_size integer) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE SECURITY INVOKER AS $$
    SELECT (2 * electorate_size + 2) / 3
$$;

-- The state a tally reaches before the deadline, as rules.outcome(..., deadline_passed=False): decided
-- (for the first option in order with a quorum), rejected once no option can reach the quorum with the
-- electors who have not voted, else open.
CREATE FUNCTION consensus_outcome(
    electorate_size integer, quorum integer, options text[], choices text[],
    OUT state text, OUT decided_option text
)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE SECURITY INVOKER AS $$
    WITH counts AS (
        SELECT o.option, o.place,
               (SELECT count(*) FROM unnest(choices) AS c(choice) WHERE c.choice = o.option)::integer AS votes
        FROM unnest(options) WITH ORDINALITY AS o(option, place)
    )
    SELECT CASE
            WHEN EXISTS (SELECT 1 FROM counts WHERE votes >= quorum) THEN 'decided'
            WHEN NOT EXISTS (
                SELECT 1 FROM counts WHERE votes + electorate_size - cardinality(choices) >= quorum) THEN 'rejected'
            ELSE 'open'
        END,
        (SELECT option FROM counts WHERE votes >= quorum ORDER BY place LIMIT 1)
$$;

-- A registration whose signature the service verified with `key`. admitted_* say whether admission
-- lets it in when the name has no active enrolment, one for `key` with a vote, one for `key` without
-- (an enrolment for another key never does). Outcomes: 'refused' (not admitted: enrolled_key and
-- enrolled_voting say what was found), 'clock_skew' (db_now says the server's time), 'name_taken'
-- (registered with another key and not enrolled), 'stale' (older than the last accepted signed
-- request), else 'created', 'updated' or 'same_request' with the instance's row.
CREATE FUNCTION consensus_register(
    new_instance_id uuid, name text, kind text, region text, instance_capabilities text[],
    instance_endpoints text[], key bytea, wants_vote boolean, signed_at timestamptz, request_signature bytea,
    ttl_seconds double precision, offline_after_seconds double precision, max_skew_seconds double precision,
    admitted_unenrolled boolean, admitted_enrolled boolean, admitted_enrolled_without_vote boolean,
    channel text
) RETURNS TABLE (
    outcome text, enrolled_key bytea, enrolled_voting boolean, db_now timestamptz,
    instance_id uuid, instance_name text, instance_type text, location text, capabilities text[],
    endpoints text[], public_key bytea, voting boolean, status text, lease_expire_time timestamptz,
    offline_time timestamptz, last_sync timestamptz, created_at timestamptz, updated_at timestamptz,
    written_lsn pg_lsn, written_xid xid8
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
DECLARE
    found_key bytea;
    found_vote boolean;
    admitted boolean;
    current record;
    subject uuid;
    result text;
BEGIN
    SELECT e.public_key, e.voting INTO found_key, found_vote
    FROM instance_enrollments e WHERE e.revoked_at IS NULL AND e.instance_name = name;
    admitted := CASE
        WHEN found_key IS NULL THEN admitted_unenrolled
        WHEN found_key <> key THEN false
        WHEN found_vote THEN admitted_enrolled
        ELSE admitted_enrolled_without_vote
    END;
    IF NOT admitted THEN
        result := 'refused';
    ELSIF abs(extract(epoch FROM now() - signed_at)) > max_skew_seconds THEN
        result := 'clock_skew';
    ELSE
        INSERT INTO instance_network (
            instance_id, instance_name, instance_type, location, capabilities, endpoints, public_key, voting,
            last_sign_time, last_signature, last_sync, lease_expire_time, offline_time, announced_status)
        VALUES (new_instance_id, name, kind, region, instance_capabilities, instance_endpoints, key, wants_vote,
                signed_at, request_signature, now(), now() + ttl_seconds * interval '1 second',
                now() + offline_after_seconds * interval '1 second', 'active')
        ON CONFLICT (instance_name) DO NOTHING
        RETURNING instance_id INTO subject;
        IF subject IS NOT NULL THEN
            result := 'created';
        ELSE
            SELECT n.instance_id, n.public_key, n.last_sign_time, n.last_signature INTO current
            FROM instance_network n WHERE n.instance_name = name FOR UPDATE;
            subject := current.instance_id;
            IF current.public_key <> key AND found_key IS NULL THEN
                result := 'name_taken';
            ELSIF current.public_key <> key OR signed_at > current.last_sign_time THEN
                -- A name enrolled for this key is its own: the enrolled key takes it over from any other.
                UPDATE instance_network SET
                    instance_type = kind, location = region, capabilities = instance_capabilities,
                    endpoints = instance_endpoints, voting = wants_vote, deregistered = false,
                    last_sign_time = signed_at, last_signature = request_signature, public_key = key,
                    updated_at = now(), last_sync = now(),
                    lease_expire_time = now() + ttl_seconds * interval '1 second',
                    offline_time = now() + offline_after_seconds * interval '1 second',
                    announced_status = 'active'
                WHERE instance_id = subject;
                result := 'updated';
            ELSIF signed_at = current.last_sign_time AND request_signature = current.last_signature THEN
                result := 'same_request';
            ELSE
                result := 'stale';
            END IF;
        END IF;
        IF result IN ('created', 'updated') THEN
            PERFORM pg_notify(channel, json_build_object('id', subject, 'event', 'registered')::text);
        END IF;
    END IF;
    RETURN QUERY
        SELECT result, found_key, found_vote, now(),
               n.instance_id, n.instance_name, n.instance_type, n.location, n.capabilities, n.endpoints,
               n.public_key, n.voting,
               consensus_instance_status(n.deregistered, n.lease_expire_time, n.offline_time, now()),
               n.lease_expire_time, n.offline_time, n.last_sync, n.created_at, n.updated_at,
               pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned()
        FROM (SELECT 1) AS one LEFT JOIN instance_network n
            ON n.instance_id = subject AND result IN ('created', 'updated', 'same_request');
END
$$;

-- A proposal whose signature the service verified with `proposer_key`, with the electorate active
-- now. Outcomes: 'created'; 'existing' (this request_id made the same proposal before: that one comes
-- back); 'request_reused' (it made a different one); 'no_proposer'; 'unverified' (the proposer's key is
-- no longer `proposer_key`); 'not_enrolled'; 'no_electorate'. With the proposal: its electors, votes
-- and equivocation evidence, in the orders GetProposal lists them.
CREATE FUNCTION consensus_create_proposal(
    new_consensus_id uuid, new_request_id uuid, topic text, proposal_options text[], proposer uuid,
    proposer_key bytea, signature bytea, proposal_deadline timestamptz, channel text
) RETURNS TABLE (
    outcome text, consensus_id uuid, request_id uuid, decision_topic text, options text[], proposed_by uuid,
    proposer_public_key bytea, proposer_signature bytea, deadline timestamptz, electorate_size integer,
    quorum integer, final_decision text, created_at timestamptz, state text, resolved_at timestamptz,
    electors consensus_electors[], votes consensus_votes[], equivocations consensus_equivocations[],
    written_lsn pg_lsn, written_xid xid8
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
DECLARE
    earlier record;
    proposer_row record;
    chosen_ids uuid[];
    chosen_names text[];
    chosen_keys bytea[];
    subject uuid;
    result text;
BEGIN
    SELECT d.consensus_id, d.proposed_by, d.decision_topic, d.options, d.deadline, d.proposer_signature
        INTO earlier
    FROM distributed_consensus d WHERE d.request_id = new_request_id;
    IF NOT FOUND THEN
        SELECT n.public_key, EXISTS (
                SELECT 1 FROM instance_enrollments e
                WHERE e.instance_name = n.instance_name AND e.public_key = n.public_key AND e.revoked_at IS NULL
            ) AS enrolled
            INTO proposer_row
        FROM instance_network n WHERE n.instance_id = proposer;
        IF NOT FOUND THEN
            result := 'no_proposer';
        ELSIF proposer_row.public_key <> proposer_key THEN
            result := 'unverified';
        ELSIF NOT proposer_row.enrolled THEN
            result := 'not_enrolled';
        ELSE
            SELECT coalesce(array_agg(n.instance_id ORDER BY n.instance_id), '{}'),
                   coalesce(array_agg(n.instance_name ORDER BY n.instance_id), '{}'),
                   coalesce(array_agg(n.public_key ORDER BY n.instance_id), '{}')
                INTO chosen_ids, chosen_names, chosen_keys
            FROM instance_network n
            WHERE n.voting
              AND consensus_instance_status(n.deregistered, n.lease_expire_time, n.offline_time, now()) = 'active'
              AND EXISTS (
                  SELECT 1 FROM instance_enrollments e
                  WHERE e.instance_name = n.instance_name AND e.public_key = n.public_key
                    AND e.revoked_at IS NULL AND e.voting);
            IF cardinality(chosen_ids) = 0 THEN
                result := 'no_electorate';
            ELSE
                INSERT INTO distributed_consensus (
                    consensus_id, request_id, decision_topic, options, proposed_by, proposer_public_key,
                    proposer_signature, deadline, electorate_size, quorum, state)
                VALUES (new_consensus_id, new_request_id, topic, proposal_options, proposer, proposer_key,
                        signature, proposal_deadline, cardinality(chosen_ids),
                        consensus_quorum(cardinality(chosen_ids)), 'open')
                ON CONFLICT (request_id) DO NOTHING
                RETURNING consensus_id INTO subject;
                IF subject IS NOT NULL THEN
                    INSERT INTO consensus_electors (consensus_id, instance_id, instance_name, public_key)
                    SELECT subject, chosen.id, chosen.name, chosen.key
                    FROM unnest(chosen_ids, chosen_names, chosen_keys) AS chosen(id, name, key);
                    PERFORM pg_notify(channel, json_build_object('id', subject, 'event', 'created')::text);
                    result := 'created';
                ELSE
                    -- The same request_id committed concurrently by another call: judged as a repeat below.
                    SELECT d.consensus_id, d.proposed_by, d.decision_topic, d.options, d.deadline,
                           d.proposer_signature
                        INTO earlier
                    FROM distributed_consensus d WHERE d.request_id = new_request_id;
                END IF;
            END IF;
        END IF;
    END IF;
    IF result IS NULL THEN
        subject := earlier.consensus_id;
        result := CASE WHEN earlier.proposed_by = proposer AND earlier.decision_topic = topic
                            AND earlier.options = proposal_options AND earlier.deadline = proposal_deadline
                            AND earlier.proposer_signature = signature
                       THEN 'existing' ELSE 'request_reused' END;
    END IF;
    RETURN QUERY
        SELECT result, d.consensus_id, d.request_id, d.decision_topic, d.options, d.proposed_by,
               d.proposer_public_key, d.proposer_signature, d.deadline, d.electorate_size, d.quorum,
               d.final_decision, d.created_at, consensus_proposal_state(d.state, d.deadline, now()),
               CASE WHEN d.state = 'open' AND d.deadline <= now() THEN d.deadline ELSE d.resolved_at END,
               ARRAY(SELECT el FROM consensus_electors el WHERE el.consensus_id = subject
                     ORDER BY el.instance_name, el.instance_id),
               ARRAY(SELECT v FROM consensus_votes v WHERE v.consensus_id = subject ORDER BY v.cast_at, v.voter_id),
               ARRAY(SELECT e FROM consensus_equivocations e WHERE e.consensus_id = subject
                     ORDER BY e.detected_at, e.voter_id, e.choice),
               pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned()
        FROM (SELECT 1) AS one LEFT JOIN distributed_consensus d
            ON d.consensus_id = subject AND result IN ('created', 'existing');
END
$$;

-- A vote whose signature the service verified with `voter_key` and whose choice it found among the
-- proposal's options (rules.judge_vote's first checks). Under the proposal's row lock, as
-- judge_vote goes on: 'not_found'; 'unverified' (`voter_key` is not the voter's key in the
-- electorate); 'revoked' (the voter's enrolment was revoked since); 'repeated' / 'equivocation' (the
-- voter's counted vote was for the same / another option: the conflicting one is kept as evidence);
-- 'closed' (the proposal has its outcome or its deadline passed: an open one past it is expired now);
-- else 'accepted': counted, and the outcome it reaches written. `finished` is the state this call
-- moved the proposal into out of open, if any; `choices` the counted votes after the call.
CREATE FUNCTION consensus_cast_vote(
    wanted_proposal uuid, voter uuid, vote_choice text, vote_signature bytea, voter_key bytea, channel text
) RETURNS TABLE (
    verdict text, finished text, choices text[], consensus_id uuid, request_id uuid, decision_topic text,
    options text[], proposed_by uuid, proposer_public_key bytea, proposer_signature bytea, deadline timestamptz,
    electorate_size integer, quorum integer, final_decision text, created_at timestamptz, state text,
    resolved_at timestamptz, written_lsn pg_lsn, written_xid xid8
)
    LANGUAGE plpgsql SECURITY INVOKER AS $$
#variable_conflict use_column
DECLARE
    locked record;
    elector_key bytea;
    counted_choice text;
    reached record;
    result text;
    finished_as text;
BEGIN
    SELECT d.state, d.deadline <= clock_timestamp() AS deadline_passed, d.electorate_size, d.quorum, d.options
        INTO locked
    FROM distributed_consensus d WHERE d.consensus_id = wanted_proposal FOR UPDATE;
    IF NOT FOUND THEN
        result := 'not_found';
    ELSE
        SELECT el.public_key INTO elector_key
        FROM consensus_electors el WHERE el.consensus_id = wanted_proposal AND el.instance_id = voter;
        IF elector_key IS DISTINCT FROM voter_key THEN
            result := 'unverified';
        ELSIF NOT EXISTS (
            SELECT 1 FROM consensus_electors el JOIN instance_enrollments e
                ON e.instance_name = el.instance_name AND e.public_key = el.public_key
            WHERE el.consensus_id = wanted_proposal AND el.instance_id = voter AND e.revoked_at IS NULL
        ) THEN
            result := 'revoked';
        ELSE
            SELECT v.choice INTO counted_choice
            FROM consensus_votes v WHERE v.consensus_id = wanted_proposal AND v.voter_id = voter;
            IF counted_choice = vote_choice THEN
                result := 'repeated';
            ELSIF counted_choice IS NOT NULL THEN
                result := 'equivocation';
                INSERT INTO consensus_equivocations (consensus_id, voter_id, choice, signature)
                VALUES (wanted_proposal, voter, vote_choice, vote_signature)
                ON CONFLICT DO NOTHING;
                IF FOUND THEN
                    PERFORM pg_notify(channel, json_build_object('id', wanted_proposal, 'event', 'equivocation')::text);
                END IF;
            ELSIF locked.state <> 'open' OR locked.deadline_passed THEN
                result := 'closed';
                IF locked.state = 'open' THEN
                    UPDATE distributed_consensus SET state = 'expired', resolved_at = deadline
                    WHERE consensus_id = wanted_proposal;
                    PERFORM pg_notify(channel, json_build_object('id', wanted_proposal, 'event', 'expired')::text);
                    finished_as := 'expired';
                END IF;
            ELSE
                result := 'accepted';
                INSERT INTO consensus_votes (consensus_id, voter_id, choice, signature)
                VALUES (wanted_proposal, voter, vote_choice, vote_signature);
                SELECT o.state, o.decided_option INTO reached
                FROM consensus_outcome(
                    locked.electorate_size, locked.quorum, locked.options,
                    ARRAY(SELECT v.choice FROM consensus_votes v WHERE v.consensus_id = wanted_proposal)) AS o;
                IF reached.state <> 'open' THEN
                    UPDATE distributed_consensus
                    SET state = reached.state, final_decision = reached.decided_option, resolved_at = now()
                    WHERE consensus_id = wanted_proposal;
                    finished_as := reached.state;
                END IF;
                PERFORM pg_notify(channel, json_build_object('id', wanted_proposal, 'event', 'voted')::text);
            END IF;
        END IF;
    END IF;
    RETURN QUERY
        SELECT result, finished_as,
               ARRAY(SELECT v.choice FROM consensus_votes v WHERE v.consensus_id = wanted_proposal),
               d.consensus_id, d.request_id, d.decision_topic, d.options, d.proposed_by, d.proposer_public_key,
               d.proposer_signature, d.deadline, d.electorate_size, d.quorum, d.final_decision, d.created_at,
               consensus_proposal_state(d.state, d.deadline, now()),
               CASE WHEN d.state = 'open' AND d.deadline <= now() THEN d.deadline ELSE d.resolved_at END,
               pg_current_wal_insert_lsn(), pg_current_xact_id_if_assigned()
        FROM (SELECT 1) AS one LEFT JOIN distributed_consensus d ON d.consensus_id = wanted_proposal;
END
$$;

REVOKE ALL ON FUNCTION
    consensus_register(uuid, text, text, text, text[], text[], bytea, boolean, timestamptz, bytea,
                       double precision, double precision, double precision, boolean, boolean, boolean, text),
    consensus_create_proposal(uuid, uuid, text, text[], uuid, bytea, bytea, timestamptz, text),
    consensus_cast_vote(uuid, uuid, text, bytea, bytea, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    consensus_register(uuid, text, text, text, text[], text[], bytea, boolean, timestamptz, bytea,
                       double precision, double precision, double precision, boolean, boolean, boolean, text),
    consensus_create_proposal(uuid, uuid, text, text[], uuid, bytea, bytea, timestamptz, text),
    consensus_cast_vote(uuid, uuid, text, bytea, bytea, text)
TO cerebro_consensus;
