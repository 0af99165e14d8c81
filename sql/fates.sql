-- fates: what happens to every row of one bucket of dedup keys, in output order.
--
-- Usable rows that share a dedup key compete: the tightest rating spread wins, then
-- the earlier input, then the earlier line. Of the losers, the best row of each
-- other corpus is a cross-corpus duplicate; every further row is a same-corpus
-- repeat. So per key with n rows from c corpora: c - 1 cross, n - c same.
--
-- `bucket_rows` holds the rows of one bucket of keys (bucketed.sql): every row of a
-- key is in the same bucket, so ranking a bucket is ranking each of its keys. Both
-- rankings are read off neighbours (LAG) in one order per bucket rather than computed
-- per key (PARTITION BY dedup_key): with millions of keys of one or two rows each, a
-- window partitioned by key pays a fixed cost per key that dwarfs the work itself.
WITH in_dedup_order AS (
    SELECT
        b.*,
        ROW_NUMBER() OVER dedup_order AS dedup_pos,
        LAG(b.dedup_key) OVER dedup_order AS previous_key
    FROM bucket_rows AS b
    WINDOW dedup_order AS (
        ORDER BY b.drop_reason NULLS FIRST, b.dedup_key,
                 b.uncertainty ASC NULLS LAST, b.input_idx, b.line
    )
),
-- The winner of each key is the first of its key in dedup order.
judged AS (
    SELECT
        d.input_idx, d.line, d.row_ref, d.corpus_source, d.corpus,
        d.src_sha256, d.dedup_key, d.uncertainty, d.drop_reason,
        d.mos, d.mos_native, d.mos_native_scale, d.mos_std_dev,
        d.mos_problem, d.bad_value,
        d.dedup_pos = 1 OR (d.previous_key IS DISTINCT FROM d.dedup_key) AS is_winner
    FROM in_dedup_order AS d
),
in_corpus_order AS (
    SELECT
        j.*,
        LAG(j.dedup_key) OVER corpus_order AS previous_key_by_corpus,
        LAG(j.corpus_source) OVER corpus_order AS previous_corpus
    FROM judged AS j
    WINDOW corpus_order AS (
        ORDER BY j.drop_reason NULLS FIRST, j.dedup_key, j.corpus_source,
                 j.uncertainty ASC NULLS LAST, j.input_idx, j.line
    )
)
SELECT
    c.input_idx,
    c.line,
    c.row_ref,
    c.corpus_source,
    c.corpus,
    c.src_sha256,
    c.dedup_key,
    c.mos,
    c.mos_native,
    c.mos_native_scale,
    c.mos_std_dev,
    c.mos_problem,
    c.bad_value,
    CASE
        WHEN c.drop_reason IS NOT NULL THEN c.drop_reason
        WHEN c.is_winner THEN 'kept'
        -- First of its corpus within the key, and not the winner: the winner's own
        -- corpus has the winner as its first row, so this is another corpus.
        WHEN (c.previous_key_by_corpus IS DISTINCT FROM c.dedup_key)
          OR (c.previous_corpus IS DISTINCT FROM c.corpus_source) THEN 'cross_corpus_dup'
        ELSE 'same_corpus_dup'
    END AS fate
FROM in_corpus_order AS c
-- Byte-wise, as the reference sorts its output; output_order.sql merges the buckets.
ORDER BY c.corpus_source, c.src_sha256, c.dedup_key
