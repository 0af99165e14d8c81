-- output_order: the kept rows of every bucket, in output order.
--
-- `ranked` holds each bucket's kept rows, already in this order within the bucket
-- (fates_by_rank.sql or fates_by_text.sql); the engine knows that, so this is a merge
-- of the buckets, not a sort.
-- When the buckets are ranges of keys, their rows arrive already in this order, one
-- bucket after the other within each corpus (src/engine/range_runs.rs), and pass
-- through; only the rows without a content hash, if any are kept, are merged in.
-- Byte-wise, as the reference sorts its output; a dedup key is kept once, so no two
-- rows tie.
--
-- The content hash and the corpus come back here: until the merge a row carries each
-- only where it differs from its dedup key or its corpus_source (unified.sql), which
-- makes the ranked rows spooled at scale a fifth smaller.
SELECT
    r.* EXCLUDE (src_sha256_unless_key, corpus_unless_source),
    COALESCE(r.src_sha256_unless_key, r.dedup_key) AS src_sha256,
    COALESCE(r.corpus_unless_source, r.corpus_source) AS corpus
FROM ranked AS r
ORDER BY r.corpus_source, src_sha256, r.dedup_key
