-- output_order: the kept rows of every bucket, in output order.
--
-- `ranked` holds each bucket's kept rows, already in this order within the bucket
-- (fates.sql); the engine knows that, so this is a merge of the buckets, not a sort.
-- Byte-wise, as the reference sorts its output; a dedup key is kept once, so no two
-- rows tie.
SELECT *
FROM ranked
ORDER BY corpus_source, src_sha256, dedup_key
