-- fates: what happens to every row of one bucket of dedup keys.
--
-- `judged` is the bucket in dedup order (dedup_order.sql): each row knows whether it
-- won its key and whether its key is contested. A row that cannot be used keeps its
-- drop reason; a row alone on its key is kept. Of the losers of a contested key, the
-- best row of each other corpus is a cross-corpus duplicate and every further row a
-- same-corpus repeat. So per key with n rows from c corpora: c - 1 cross, n - c same.
--
-- Only the contested rows (a few in a hundred) are sorted by corpus within their key,
-- to read each corpus's best row off its neighbour (LAG).
--
-- The result is each row's number in its bucket and its fate, with the columns that
-- put the rows in output order (the ranking registers it as `bucket_fates`, and
-- fates_by_rank.sql or fates_by_text.sql puts it in that order).
-- The ranking fetches the rest of the rows it writes or reports by that number
-- (src/engine/bucket_rows.rs), so the sort carries only what decides.
WITH contested AS (
    SELECT
        j.*,
        LAG(j.dedup_key) OVER corpus_order AS previous_key,
        LAG(j.corpus_source) OVER corpus_order AS previous_corpus
    FROM judged AS j
    WHERE j.contested
    WINDOW corpus_order AS (
        -- Within a corpus, in dedup order: by spread, then input, then line.
        ORDER BY j.dedup_key, j.corpus_source, j.dedup_rank
    )
),
fated AS (
    SELECT
        c.bucket_row, c.dedup_rank, c.corpus_source, c.corpus_number,
        c.src_sha256_unless_key, c.dedup_key,
        CASE
            WHEN c.is_winner THEN 'kept'
            -- First of its corpus within the key, and not the winner: the winner's own
            -- corpus has the winner as its first row, so this is another corpus.
            WHEN (c.previous_key IS DISTINCT FROM c.dedup_key)
              OR (c.previous_corpus IS DISTINCT FROM c.corpus_source) THEN 'cross_corpus_dup'
            ELSE 'same_corpus_dup'
        END AS fate
    FROM contested AS c
    UNION ALL
    SELECT
        j.bucket_row, j.dedup_rank, j.corpus_source, j.corpus_number,
        j.src_sha256_unless_key, j.dedup_key,
        -- Uncontested and usable: the only usable row of its key, so its winner.
        COALESCE(j.drop_reason, 'kept') AS fate
    FROM judged AS j
    WHERE NOT j.contested
)
SELECT
    bucket_row, fate, dedup_rank, corpus_source, corpus_number, src_sha256_unless_key, dedup_key
FROM fated
