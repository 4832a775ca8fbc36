-- BM25 text ranking inside PostgreSQL, with per-namespace term statistics kept exact by triggers.
--
-- A row matches a query when it contains any of the query's words (the 'english' configuration
-- stems query and documents alike); quoted phrases are required and -excluded words or phrases
-- rule a row out. Matching rows are scored by Okapi BM25:
--
--     score = sum over query terms t of  qtf(t) * idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
--     idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
--
-- with tf the term's occurrences in the row (its positions in the tsvector), dl the row's length as
-- its number of distinct lexemes (`length(search_vector)`), and N, df(t) and avgdl from the statistics
-- of the row's namespace. Distinct lexemes rather than tokens: the same Cranfield nDCG@10 (0.3492
-- against 0.3486 with tokens), and no second to_tsvector pass per write (a stored token count cost
-- CreateEpisode 8%).
--
-- The statistics must be right in the same transaction as the rows, under any number of concurrent
-- writers. Per-lexeme counters updated in place would be hot rows (every episode of a namespace
-- touches the counters of its common words and the namespace's document count), serialising
-- concurrent writers until commit and deadlocking transactions that lock them in different orders.
-- So writers only append: statement-level triggers insert the net change of each statement into
-- text_statistics_changes, and memory.fold_text_statistics() (run every few seconds by the memory
-- service) moves the changes into text_statistics. A query sums both in one snapshot, so it always
-- sees exact figures, folded or not.

CREATE AGGREGATE memory.any_of(tsquery) (SFUNC = tsquery_or, STYPE = tsquery);
CREATE AGGREGATE memory.all_of(tsquery) (SFUNC = tsquery_and, STYPE = tsquery);

-- Per corpus (the table) and namespace: its rows and the sum of their lengths; per lexeme, the rows
-- containing it. The true figures are these plus the changes not folded yet.
CREATE TABLE memory.text_collection_statistics (
    corpus       text   NOT NULL CHECK (corpus IN ('episodes', 'semantic_memories')),
    namespace    text   NOT NULL,
    documents    bigint NOT NULL,
    total_length bigint NOT NULL,
    PRIMARY KEY (corpus, namespace)
);
CREATE TABLE memory.text_term_statistics (
    corpus    text   NOT NULL CHECK (corpus IN ('episodes', 'semantic_memories')),
    namespace text   NOT NULL,
    lexeme    text   NOT NULL,
    documents bigint NOT NULL,
    PRIMARY KEY (corpus, namespace, lexeme)
);

-- One row per statement and namespace it changed: the net change of the collection and, in parallel
-- arrays, of every lexeme whose row count changed (negative for removed rows). One row, not one per
-- lexeme, keeps a write's cost to a single small insert; a query reads only the rows whose lexemes
-- overlap its own, and folding keeps the table short.
CREATE TABLE memory.text_statistics_changes (
    corpus           text     NOT NULL,
    namespace        text     NOT NULL,
    documents        bigint   NOT NULL,
    total_length     bigint   NOT NULL,
    lexemes          text[]   NOT NULL,
    lexeme_documents bigint[] NOT NULL
);
CREATE INDEX text_statistics_changes_namespace_idx ON memory.text_statistics_changes (corpus, namespace);

-- Appends the net statistics of rows added (sign 1) to or removed (sign -1) from a corpus (updates, deletes).
CREATE FUNCTION memory.record_text_statistics(corpus text, namespaces text[], vectors tsvector[], signs integer[])
    RETURNS void
    LANGUAGE sql SET search_path = memory, pg_catalog AS $$
    WITH changed AS (
        SELECT * FROM unnest(namespaces, vectors, signs) AS r (namespace, vector, sign)
    ), collections AS (
        SELECT namespace, sum(sign) AS documents, sum(sign * length(vector)) AS total_length
        FROM changed GROUP BY namespace
    ), lexemes AS (
        SELECT c.namespace, t.lexeme, sum(c.sign) AS documents
        FROM changed c CROSS JOIN LATERAL unnest(tsvector_to_array(c.vector)) AS t (lexeme)
        GROUP BY c.namespace, t.lexeme
        HAVING sum(c.sign) <> 0
    ), terms AS (
        SELECT namespace, array_agg(lexeme) AS lexemes, array_agg(documents) AS documents
        FROM lexemes GROUP BY namespace
    )
    INSERT INTO memory.text_statistics_changes
        (corpus, namespace, documents, total_length, lexemes, lexeme_documents)
    SELECT corpus, c.namespace, c.documents, c.total_length, coalesce(t.lexemes, '{}'), coalesce(t.documents, '{}')
    FROM collections c LEFT JOIN terms t USING (namespace)
    WHERE c.documents <> 0 OR c.total_length <> 0 OR t.lexemes IS NOT NULL
$$;

-- Statement-level, with transition tables: a batch insert of thousands of rows appends one row per
-- namespace. Only the searchable text counts: an update that leaves every (namespace, search_vector)
-- as it was (the embeddings worker storing vectors, a new importance) records nothing. Inserts, the
-- hot path (every CreateEpisode), count straight from the transition table: the same figures as
-- record_text_statistics without building arrays first (CreateEpisode ~5% faster).
CREATE FUNCTION memory.count_text_statistics() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = memory, pg_catalog AS $$
DECLARE
    namespaces text[];
    vectors tsvector[];
    signs integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO memory.text_statistics_changes
            (corpus, namespace, documents, total_length, lexemes, lexeme_documents)
        SELECT TG_TABLE_NAME, c.namespace, c.documents, c.total_length,
               coalesce(t.lexemes, '{}'), coalesce(t.documents, '{}')
        FROM (SELECT namespace, count(*) AS documents, sum(length(search_vector)) AS total_length
              FROM new_rows GROUP BY namespace) AS c
        CROSS JOIN LATERAL (
            SELECT array_agg(lexeme) AS lexemes, array_agg(documents) AS documents FROM (
                SELECT l.lexeme, count(*) AS documents
                FROM new_rows n CROSS JOIN LATERAL unnest(tsvector_to_array(n.search_vector)) AS l (lexeme)
                WHERE n.namespace = c.namespace
                GROUP BY l.lexeme
            ) AS u
        ) AS t;
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(namespace), array_agg(search_vector), array_agg(-1)
        INTO namespaces, vectors, signs
        FROM old_rows;
    ELSE
        SELECT array_agg(namespace), array_agg(search_vector), array_agg(sign)
        INTO namespaces, vectors, signs
        FROM (
            (SELECT namespace, search_vector, 1 AS sign FROM new_rows
             EXCEPT ALL SELECT namespace, search_vector, 1 FROM old_rows)
            UNION ALL
            (SELECT namespace, search_vector, -1 FROM old_rows
             EXCEPT ALL SELECT namespace, search_vector, -1 FROM new_rows)
        ) AS changed;
    END IF;
    IF namespaces IS NOT NULL THEN
        PERFORM memory.record_text_statistics(TG_TABLE_NAME, namespaces, vectors, signs);
    END IF;
    RETURN NULL;
END;
$$;

-- TRUNCATE fires no row triggers: it forgets the corpus's statistics instead.
CREATE FUNCTION memory.forget_text_statistics() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = memory, pg_catalog AS $$
BEGIN
    DELETE FROM memory.text_collection_statistics WHERE corpus = TG_TABLE_NAME;
    DELETE FROM memory.text_term_statistics WHERE corpus = TG_TABLE_NAME;
    DELETE FROM memory.text_statistics_changes WHERE corpus = TG_TABLE_NAME;
    RETURN NULL;
END;
$$;

DO $$
DECLARE
    table_name text;
BEGIN
    FOREACH table_name IN ARRAY ARRAY['episodes', 'semantic_memories'] LOOP
        EXECUTE format(
            'CREATE TRIGGER %1$s_text_statistics_insert AFTER INSERT ON memory.%1$I '
            'REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION memory.count_text_statistics()',
            table_name);
        EXECUTE format(
            'CREATE TRIGGER %1$s_text_statistics_update AFTER UPDATE ON memory.%1$I '
            'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT '
            'EXECUTE FUNCTION memory.count_text_statistics()',
            table_name);
        EXECUTE format(
            'CREATE TRIGGER %1$s_text_statistics_delete AFTER DELETE ON memory.%1$I '
            'REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION memory.count_text_statistics()',
            table_name);
        EXECUTE format(
            'CREATE TRIGGER %1$s_text_statistics_truncate AFTER TRUNCATE ON memory.%1$I '
            'FOR EACH STATEMENT EXECUTE FUNCTION memory.forget_text_statistics()',
            table_name);
    END LOOP;
END;
$$;

-- The rows already stored.
INSERT INTO memory.text_collection_statistics (corpus, namespace, documents, total_length)
SELECT 'episodes', namespace, count(*), sum(length(search_vector)) FROM memory.episodes GROUP BY namespace
UNION ALL
SELECT 'semantic_memories', namespace, count(*), sum(length(search_vector)) FROM memory.semantic_memories
GROUP BY namespace;
INSERT INTO memory.text_term_statistics (corpus, namespace, lexeme, documents)
SELECT 'episodes', e.namespace, t.lexeme, count(*)
FROM memory.episodes e CROSS JOIN LATERAL unnest(tsvector_to_array(e.search_vector)) AS t (lexeme)
GROUP BY e.namespace, t.lexeme
UNION ALL
SELECT 'semantic_memories', s.namespace, t.lexeme, count(*)
FROM memory.semantic_memories s CROSS JOIN LATERAL unnest(tsvector_to_array(s.search_vector)) AS t (lexeme)
GROUP BY s.namespace, t.lexeme;

-- Moves up to max_rows changes into the statistics tables, in one transaction with their deletion,
-- and returns how many it moved (0 while another fold runs). Readers see the same sums before and
-- after. A batch may hold a removal whose addition is in the next one: a folded figure can be
-- briefly negative, never the sum a query reads.
CREATE FUNCTION memory.fold_text_statistics(max_rows integer) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = memory, pg_catalog AS $$
DECLARE
    moved integer;
    emptied_collections text[];
    emptied_corpora text[];
    emptied_namespaces text[];
    emptied_lexemes text[];
BEGIN
    -- Concurrent folds would block on each other's rows; one at a time is enough.
    IF NOT pg_try_advisory_xact_lock(4026531842) THEN
        RETURN 0;
    END IF;
    WITH taken AS (
        DELETE FROM memory.text_statistics_changes
        WHERE ctid = ANY (ARRAY(SELECT ctid FROM memory.text_statistics_changes LIMIT max_rows))
        RETURNING *
    ), collections AS (
        INSERT INTO memory.text_collection_statistics AS s (corpus, namespace, documents, total_length)
        SELECT corpus, namespace, sum(documents), sum(total_length) FROM taken GROUP BY corpus, namespace
        ON CONFLICT (corpus, namespace) DO UPDATE
            SET documents = s.documents + excluded.documents, total_length = s.total_length + excluded.total_length
        RETURNING s.corpus, s.namespace, s.documents, s.total_length
    ), terms AS (
        INSERT INTO memory.text_term_statistics AS s (corpus, namespace, lexeme, documents)
        SELECT t.corpus, t.namespace, u.lexeme, sum(u.documents)
        FROM taken t CROSS JOIN LATERAL unnest(t.lexemes, t.lexeme_documents) AS u (lexeme, documents)
        GROUP BY t.corpus, t.namespace, u.lexeme
        ON CONFLICT (corpus, namespace, lexeme) DO UPDATE SET documents = s.documents + excluded.documents
        RETURNING s.corpus, s.namespace, s.lexeme, s.documents
    )
    SELECT (SELECT count(*) FROM taken),
           (SELECT array_agg(corpus || '/' || namespace) FROM collections WHERE documents = 0 AND total_length = 0),
           array_agg(corpus), array_agg(namespace), array_agg(lexeme)
    INTO moved, emptied_collections, emptied_corpora, emptied_namespaces, emptied_lexemes
    FROM terms WHERE documents = 0;
    -- Figures that reached zero describe nothing: the rows go (a data-modifying WITH cannot also
    -- delete the rows it just updated).
    DELETE FROM memory.text_collection_statistics WHERE corpus || '/' || namespace = ANY (emptied_collections);
    DELETE FROM memory.text_term_statistics s
    USING unnest(emptied_corpora, emptied_namespaces, emptied_lexemes) AS e (corpus, namespace, lexeme)
    WHERE s.corpus = e.corpus AND s.namespace = e.namespace AND s.lexeme = e.lexeme;
    RETURN moved;
END;
$$;

-- The query side. A query arrives parsed (services.memory.store.text_query): `terms`, the words and
-- phrase words that rank; `phrases`, each required in order; `exclusions`, words or phrases no hit may
-- contain. The ranking functions run as the tables' owner, as in 0005, so that the GIN index serves
-- `@@` under row-level security; they apply the namespace rule themselves and return ids and scores only.

DROP FUNCTION memory.rank_episodes_by_text(tsquery, integer, uuid, text[], timestamptz, timestamptz, double precision);
DROP FUNCTION memory.rank_semantic_memories_by_text(tsquery, integer, double precision);

-- A tsquery of exactly this lexeme (tsquery input syntax: quoted, with quotes and backslashes doubled).
CREATE FUNCTION memory.lexeme_query(lexeme text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ('''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || '''')::tsquery
$$;

-- Every phrase, and none of the exclusions; NULL when there are neither (phrases of stop words only
-- require nothing).
CREATE FUNCTION memory.required_text_query(phrases text[], exclusions text[]) RETURNS tsquery
    LANGUAGE sql IMMUTABLE PARALLEL SAFE SET client_min_messages = warning AS $$
    SELECT memory.all_of(required) FROM (
        SELECT query AS required FROM unnest(phrases) AS p, phraseto_tsquery('english', p) AS query
        WHERE numnode(query) > 0
        UNION ALL
        SELECT !! query FROM unnest(exclusions) AS x, phraseto_tsquery('english', x) AS query
        WHERE numnode(query) > 0
    ) AS parts
$$;

-- BM25 parameters: k1 (term frequency saturation) and b (length normalisation), the usual defaults.
CREATE TYPE memory.text_query AS (
    -- What a row must match: any term, every phrase, no exclusion; NULL when nothing can match.
    matching tsquery,
    -- One single-lexeme query per distinct query term, and its weight (k1 + 1) * idf * occurrences in the query.
    terms tsquery[],
    weights double precision[],
    -- A row of length dl (distinct lexemes) saturates term frequency at k1 * (1 - b) + k1 * b / avgdl * dl.
    saturation_base double precision,
    saturation_per_lexeme double precision
);

CREATE FUNCTION memory.prepare_text_query(
    corpus text, namespace text, terms text, phrases text[], exclusions text[]
) RETURNS memory.text_query
    LANGUAGE sql STABLE SET search_path = memory, pg_catalog AS $$
    WITH query_terms AS (
        SELECT u.lexeme, cardinality(u.positions) AS occurrences
        FROM unnest(to_tsvector('english', terms)) AS u
    ), query_lexemes AS (
        SELECT coalesce(array_agg(lexeme), '{}') AS lexemes FROM query_terms
    ), figures AS (
        SELECT lexeme, sum(documents) AS documents FROM (
            SELECT s.lexeme, s.documents FROM memory.text_term_statistics s, query_lexemes q
            WHERE s.corpus = prepare_text_query.corpus AND s.namespace = prepare_text_query.namespace
              AND s.lexeme = ANY (q.lexemes)
            UNION ALL
            SELECT u.lexeme, u.documents
            FROM memory.text_statistics_changes c
            CROSS JOIN query_lexemes q
            CROSS JOIN LATERAL unnest(c.lexemes, c.lexeme_documents) AS u (lexeme, documents)
            WHERE c.corpus = prepare_text_query.corpus AND c.namespace = prepare_text_query.namespace
              AND c.lexemes && q.lexemes AND u.lexeme = ANY (q.lexemes)
        ) AS parts
        GROUP BY lexeme
    ), collection AS (
        SELECT sum(documents)::float8 AS documents, sum(total_length)::float8 / sum(documents) AS average_length
        FROM (
            SELECT s.documents, s.total_length FROM memory.text_collection_statistics s
            WHERE s.corpus = prepare_text_query.corpus AND s.namespace = prepare_text_query.namespace
            UNION ALL
            SELECT c.documents, c.total_length FROM memory.text_statistics_changes c
            WHERE c.corpus = prepare_text_query.corpus AND c.namespace = prepare_text_query.namespace
        ) AS parts
        HAVING sum(documents) > 0
    ), constants (k1, b) AS (VALUES (1.2::float8, 0.75::float8))
    SELECT
        CASE WHEN required IS NULL THEN any_term ELSE any_term && required END,
        terms_and_weights.terms,
        terms_and_weights.weights,
        k.k1 * (1 - k.b),
        k.k1 * k.b / greatest(c.average_length, 1)
    FROM collection c
    CROSS JOIN constants k
    CROSS JOIN LATERAL (
        SELECT memory.any_of(memory.lexeme_query(q.lexeme)) AS any_term,
               array_agg(memory.lexeme_query(q.lexeme)) AS terms,
               array_agg((k.k1 + 1) * q.occurrences
                         * ln(1 + (c.documents - coalesce(f.documents, 0) + 0.5) / (coalesce(f.documents, 0) + 0.5)))
                   AS weights
        FROM query_terms q LEFT JOIN figures f USING (lexeme)
    ) AS terms_and_weights
    CROSS JOIN memory.required_text_query(phrases, exclusions) AS required
$$;

CREATE FUNCTION memory.rank_episodes_by_text(
    terms text,
    phrases text[],
    exclusions text[],
    max_rows integer,
    project uuid,
    required_tags text[],
    start_time timestamptz,
    end_time timestamptz,
    min_importance double precision
) RETURNS TABLE (id uuid, score double precision)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = memory, pg_catalog AS $$
DECLARE
    query memory.text_query := memory.prepare_text_query(
        'episodes', current_setting('cerebro.namespace', true), terms, phrases, exclusions);
BEGIN
    IF query.matching IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT e.episode_id,
           -- ts_rank_cd of a one-lexeme query, with every weight 1, is the lexeme's occurrence count.
           (SELECT sum(t.weight * t.tf / (t.tf + query.saturation_base + query.saturation_per_lexeme * length(e.search_vector)))
            FROM (SELECT u.weight, ts_rank_cd('{1,1,1,1}', e.search_vector, u.term)::float8 AS tf
                  FROM unnest(query.weights, query.terms) AS u (weight, term)) AS t)
    FROM memory.episodes e
    WHERE e.namespace = current_setting('cerebro.namespace', true)
      AND e.search_vector @@ query.matching
      AND (project IS NULL OR e.project_id = project)
      AND (required_tags IS NULL OR e.tags @> required_tags)
      AND (start_time IS NULL OR e.occurred_at >= start_time)
      AND (end_time IS NULL OR e.occurred_at < end_time)
      AND (min_importance IS NULL OR e.importance >= min_importance)
    ORDER BY 2 DESC, 1
    LIMIT max_rows;
END;
$$;

CREATE FUNCTION memory.rank_semantic_memories_by_text(
    terms text,
    phrases text[],
    exclusions text[],
    max_rows integer,
    min_confidence double precision
) RETURNS TABLE (id uuid, score double precision)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = memory, pg_catalog AS $$
DECLARE
    query memory.text_query := memory.prepare_text_query(
        'semantic_memories', current_setting('cerebro.namespace', true), terms, phrases, exclusions);
BEGIN
    IF query.matching IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT s.semantic_memory_id,
           (SELECT sum(t.weight * t.tf / (t.tf + query.saturation_base + query.saturation_per_lexeme * length(s.search_vector)))
            FROM (SELECT u.weight, ts_rank_cd('{1,1,1,1}', s.search_vector, u.term)::float8 AS tf
                  FROM unnest(query.weights, query.terms) AS u (weight, term)) AS t)
    FROM memory.semantic_memories s
    WHERE s.namespace = current_setting('cerebro.namespace', true)
      AND s.search_vector @@ query.matching
      AND (min_confidence IS NULL OR s.confidence >= min_confidence)
    ORDER BY 2 DESC, 1
    LIMIT max_rows;
END;
$$;

-- Only the ranking functions read the statistics: the API roles cannot see another namespace's words.
REVOKE ALL ON FUNCTION
    memory.prepare_text_query(text, text, text, text[], text[]),
    memory.record_text_statistics(text, text[], tsvector[], integer[]),
    memory.fold_text_statistics(integer)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION
    memory.rank_episodes_by_text(text, text[], text[], integer, uuid, text[], timestamptz, timestamptz, double precision),
    memory.rank_semantic_memories_by_text(text, text[], text[], integer, double precision)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    memory.rank_episodes_by_text(text, text[], text[], integer, uuid, text[], timestamptz, timestamptz, double precision),
    memory.rank_semantic_memories_by_text(text, text[], text[], integer, double precision)
    TO nexus_app, nexus_ro;
-- The memory service folds the changes in the background.
GRANT EXECUTE ON FUNCTION memory.fold_text_statistics(integer) TO nexus_app;

-- SearchEpisodes' context_window: the episodes just before and after a hit, in its namespace and
-- project (episodes without a project form one timeline), found by one index scan each way.
CREATE INDEX episodes_timeline_idx ON memory.episodes
    (namespace, (coalesce(project_id, '00000000-0000-0000-0000-000000000000'::uuid)), occurred_at, episode_id);
