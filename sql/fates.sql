-- fates: what happens to every row, in output order.
--
-- Usable rows that share a dedup key compete: the tightest rating spread wins, then
-- the earlier input, then the earlier line. Of the losers, the best row of each
-- other corpus is a cross-corpus duplicate; every further row is a same-corpus
-- repeat. So per key with n rows from c corpora: c - 1 cross, n - c same.
--
-- Both rankings are read off neighbours in one global order (LAG) rather than
-- computed per key (PARTITION BY): with millions of keys of one or two rows each,
-- a partitioned window pays a fixed cost per key that dwarfs the work itself.
WITH in_dedup_order AS (
    SELECT
        u.*,
        ROW_NUMBER() OVER dedup_order AS dedup_pos,
        LAG(u.dedup_key) OVER dedup_order AS previous_key
    FROM unified AS u
    WINDOW dedup_order AS (
        ORDER BY u.drop_reason NULLS FIRST, u.dedup_key,
                 u.uncertainty ASC NULLS LAST, u.input_idx, u.line
    )
),
in_corpus_order AS (
    SELECT
        d.*,
        LAG(d.dedup_key) OVER corpus_order AS previous_key_by_corpus,
        LAG(d.corpus_source) OVER corpus_order AS previous_corpus
    FROM in_dedup_order AS d
    WINDOW corpus_order AS (
        ORDER BY d.drop_reason NULLS FIRST, d.dedup_key, d.corpus_source,
                 d.uncertainty ASC NULLS LAST, d.input_idx, d.line
    )
)
SELECT
    c.*,
    CASE
        WHEN c.drop_reason IS NOT NULL THEN c.drop_reason
        -- First of its key in dedup order: the winner.
        WHEN c.dedup_pos = 1 OR (c.previous_key IS DISTINCT FROM c.dedup_key) THEN 'kept'
        -- First of its corpus within the key, and not the winner: the winner's own
        -- corpus has the winner as its first row, so this is another corpus.
        WHEN (c.previous_key_by_corpus IS DISTINCT FROM c.dedup_key)
          OR (c.previous_corpus IS DISTINCT FROM c.corpus_source) THEN 'cross_corpus_dup'
        ELSE 'same_corpus_dup'
    END AS fate
FROM in_corpus_order AS c
-- Byte-wise, as the reference sorts its output.
ORDER BY c.corpus_source, c.src_sha256, c.dedup_key
