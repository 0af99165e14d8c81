-- counters: the run's accounting, from the inputs and the fate of every row.
-- rows_in = rows_out + every drop and dedup counter, always.
WITH input_counts AS (
    SELECT
        SUM(CASE WHEN present THEN 1 ELSE 0 END) AS inputs_seen,
        SUM(CASE WHEN present THEN 0 ELSE 1 END) AS inputs_missing
    FROM inputs
),
row_counts AS (
    SELECT
        COUNT(*) AS rows_in,
        COUNT(*) FILTER (WHERE fate = 'kept') AS rows_out,
        COUNT(*) FILTER (WHERE fate = 'cross_corpus_dup') AS cross_corpus_dedups,
        COUNT(*) FILTER (WHERE fate = 'same_corpus_dup') AS same_corpus_dups,
        COUNT(*) FILTER (WHERE fate = 'unknown_corpus') AS dropped_unknown_corpus,
        COUNT(*) FILTER (WHERE fate = 'bad_scale') AS dropped_bad_scale,
        COUNT(*) FILTER (WHERE fate = 'bad_value') AS dropped_bad_value
    FROM fates
)
SELECT * FROM input_counts CROSS JOIN row_counts
