-- fates_by_rank: a bucket's fates (fates.sql) in output order, when its dedup order
-- already is the output order within each corpus.
--
-- The output is ordered by corpus, then content hash, byte-wise, as the reference
-- sorts it. dedup_order.sql ranked the usable rows by dedup key, and every row kept is
-- usable; where each usable row's content hash is its dedup key (it has one) and its
-- corpus has a number (the scales table knows it, see unified.sql), the kept rows of a
-- corpus in dedup rank are in output order already. So the bucket is sorted by its
-- corpus numbers and ranks instead of by texts, and no text is carried through the
-- sort. The ranking checks that the bucket is such a one (src/engine/ranking.rs); for
-- the other buckets, fates_by_text.sql. The rows not kept follow in some order; only
-- the kept rows' order is used.
SELECT bucket_row, dedup_rank, fate
FROM bucket_fates
-- One number per row, the corpus number above the rank (a bucket holds fewer than 2^32
-- rows, and a corpus number is at most 255), so that each comparison is one integer
-- comparison rather than two through a comparator of several columns.
ORDER BY CAST(corpus_number AS BIGINT) * 4294967296 + CAST(dedup_rank AS BIGINT)
