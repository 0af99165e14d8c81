-- fates_by_text: a bucket's fates (fates.sql) in output order, for any bucket.
--
-- Byte-wise by (corpus_source, src_sha256, dedup_key), as the reference sorts its
-- output; output_order.sql merges the buckets, and puts the hash back. For the rows
-- without a content hash the dedup key is not the hash, so the order is read off the
-- texts (fates_by_rank.sql does without them where it can).
-- sort_prefix(corpus_number, hash) sorts as (corpus_source, hash) does for every row
-- of a corpus the scales table knows, and decides most comparisons with one integer
-- comparison (see unified.sql and src/engine/sort_prefix.rs). The other rows are all
-- dropped, and their place here changes nothing: only the kept rows' order is used.
SELECT bucket_row, dedup_rank, fate
FROM bucket_fates
ORDER BY sort_prefix(corpus_number, COALESCE(src_sha256_unless_key, dedup_key)),
         corpus_source,
         COALESCE(src_sha256_unless_key, dedup_key),
         dedup_key
