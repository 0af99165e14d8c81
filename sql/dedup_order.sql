-- dedup_order: every row of one bucket of dedup keys, judged in dedup order.
--
-- Usable rows that share a dedup key compete: the tightest rating spread wins, then
-- the earlier input, then the earlier line. Sorted that way, the winner of each key
-- is the first row of its key, and a key is contested when another usable row shares
-- it. fates.sql then tells the losers of the contested keys apart.
--
-- `bucket_rows` holds the rows of one bucket of keys (bucketed.sql): every row of a
-- key is in the same bucket, so ranking a bucket is ranking each of its keys. The
-- ranking is read off neighbours (LAG, LEAD) in one order per bucket rather than
-- computed per key (PARTITION BY dedup_key): with millions of keys of one or two rows
-- each, a window partitioned by key pays a fixed cost per key that dwarfs the work.
--
-- Only the columns a decision or the output order needs are read, with the row's
-- number in its bucket (bucket_row): a sort copies every column it carries, and the
-- rest of a row (its unified MOS, its scale, ...) is fetched by that number for the
-- rows that need it, once their fate and order are known (src/engine/bucket_rows.rs).
WITH rated AS (
    SELECT
        b.bucket_row,
        b.input_idx,
        b.line,
        b.dedup_key,
        b.drop_reason,
        -- For fates.sql: the output order, and the corpora of a contested key.
        b.corpus_source,
        b.corpus_number,
        b.src_sha256_unless_key,
        -- Rating spread as a dedup criterion: missing, zero or non-finite means
        -- "unknown" (NULL), which loses to any real spread. (Derived here, not in
        -- unified.sql: a column less in every spooled row.)
        CASE
            WHEN b.mos_std_dev > 0
             AND NOT isnan(b.mos_std_dev)
             AND b.mos_std_dev < CAST('Infinity' AS DOUBLE)
            THEN b.mos_std_dev
        END AS uncertainty
    FROM bucket_rows AS b
)
SELECT
    r.bucket_row,
    r.dedup_key,
    r.drop_reason,
    r.corpus_source,
    r.corpus_number,
    r.src_sha256_unless_key,
    -- The row's place in dedup order: fates.sql orders the rows of a contested key by
    -- it, which is by spread, then input, then line; fates_by_rank.sql the kept rows of
    -- a corpus, which is by key. It is also the row's place in this result, plus one:
    -- the ranking reads the kept rows' texts off it by rank (src/engine/ranking.rs).
    ROW_NUMBER() OVER dedup_order AS dedup_rank,
    -- A dedup key is never NULL (unified.sql), so the first row's missing neighbour
    -- counts as another key.
    LAG(r.dedup_key) OVER dedup_order IS DISTINCT FROM r.dedup_key AS is_winner,
    -- Usable rows come first in this order, so a usable row's neighbour with the same
    -- key is usable too, except the one after the last usable row: that may flag a key
    -- as contested that is not, which costs a little time and changes no fate.
    -- (IS NOT DISTINCT FROM: never NULL, also on the first and the last row.)
    r.drop_reason IS NULL
        AND ((LAG(r.dedup_key) OVER dedup_order IS NOT DISTINCT FROM r.dedup_key)
          OR (LEAD(r.dedup_key) OVER dedup_order IS NOT DISTINCT FROM r.dedup_key)) AS contested,
    -- The number of rows in the bucket, which nothing reads: its frame, the whole bucket, is
    -- what makes DataFusion evaluate these windows over the sorted bucket at once (LAG and
    -- LEAD as shifted columns) rather than row by row with a value object per row and
    -- neighbour, 4 % less CPU at 3M rows. (LAG and LEAD ignore the frame.)
    COUNT(*) OVER dedup_order AS bucket_size
FROM rated AS r
WINDOW dedup_order AS (
    -- Usable rows first (group 0), then by key. sort_prefix(group, key) sorts as
    -- (group, key) does, and decides most comparisons with one integer comparison (see
    -- src/engine/sort_prefix.rs). The rows that cannot be used come last, in any order
    -- of their reasons: their fate is their reason whatever their place.
    ORDER BY sort_prefix(CASE WHEN r.drop_reason IS NULL THEN 0 ELSE 1 END, r.dedup_key),
             r.dedup_key, r.uncertainty ASC NULLS LAST, r.input_idx, r.line
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
)
