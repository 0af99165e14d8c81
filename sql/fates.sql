-- fates: what happens to every row, in output order.
--
-- Usable rows that share a dedup key compete: the tightest rating spread wins, then
-- the earlier input, then the earlier line. Of the losers, the best row of each
-- other corpus is a cross-corpus duplicate; every further row is a same-corpus
-- repeat. So per key with n rows from c corpora: c - 1 cross, n - c same.
WITH ranked AS (
    SELECT
        u.*,
        ROW_NUMBER() OVER by_key AS key_rank,
        FIRST_VALUE(u.corpus_source) OVER by_key AS kept_corpus_source,
        FIRST_VALUE(u.input_idx) OVER by_key AS kept_input_idx,
        FIRST_VALUE(u.line) OVER by_key AS kept_line,
        FIRST_VALUE(u.mos_std_dev) OVER by_key AS kept_mos_std_dev,
        ROW_NUMBER() OVER by_key_and_corpus AS corpus_rank
    FROM unified AS u
    WINDOW
        by_key AS (
            PARTITION BY u.drop_reason, u.dedup_key
            ORDER BY u.uncertainty ASC NULLS LAST, u.input_idx, u.line
        ),
        by_key_and_corpus AS (
            PARTITION BY u.drop_reason, u.dedup_key, u.corpus_source
            ORDER BY u.uncertainty ASC NULLS LAST, u.input_idx, u.line
        )
)
SELECT
    r.*,
    CASE
        WHEN r.drop_reason IS NOT NULL THEN r.drop_reason
        WHEN r.key_rank = 1 THEN 'kept'
        WHEN r.corpus_source <> r.kept_corpus_source AND r.corpus_rank = 1 THEN 'cross_corpus_dup'
        ELSE 'same_corpus_dup'
    END AS fate
FROM ranked AS r
-- Byte-wise, as the reference sorts its output.
ORDER BY r.corpus_source, r.src_sha256, r.dedup_key
