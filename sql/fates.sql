-- fates: what happens to every row of one bucket of dedup keys, in output order.
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
-- The result is each row's number in its bucket and its fate, in output order, with
-- the columns that order it (the sort carries them anyway): the ranking fetches the
-- rest of the rows it writes or reports by that number (src/engine/bucket_rows.rs),
-- so the sorts here carry only what decides.
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
        c.bucket_row, c.corpus_source, c.corpus_number, c.src_sha256_unless_key, c.dedup_key,
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
        j.bucket_row, j.corpus_source, j.corpus_number, j.src_sha256_unless_key, j.dedup_key,
        -- Uncontested and usable: the only usable row of its key, so its winner.
        COALESCE(j.drop_reason, 'kept') AS fate
    FROM judged AS j
    WHERE NOT j.contested
)
-- Byte-wise by (corpus_source, src_sha256, dedup_key), as the reference sorts its
-- output; output_order.sql merges the buckets, and puts the hash back.
-- sort_prefix(corpus_number, hash) sorts as (corpus_source, hash) does for every row
-- of a corpus the scales table knows, and decides most comparisons with one integer
-- comparison (see unified.sql and src/engine/sort_prefix.rs). The other rows are all
-- dropped, and their place here changes nothing: only the kept rows' order is used.
SELECT bucket_row, fate, corpus_source, src_sha256_unless_key, dedup_key
FROM fated
ORDER BY sort_prefix(corpus_number, COALESCE(src_sha256_unless_key, dedup_key)),
         corpus_source,
         COALESCE(src_sha256_unless_key, dedup_key),
         dedup_key
