-- bucketed: every row of `unified`, with the bucket of keys it is ranked in.
--
-- key_bucket(dedup_key) spreads the dedup keys evenly over a number of buckets chosen
-- from the size of the inputs and the memory limit, so that one bucket's rows fit in
-- memory: by ranges of keys in byte order when the keys are hex content hashes (then
-- the buckets' kept rows need no merge, see output_order.sql), else by a hash. All
-- rows of a key fall in the same bucket; fates.sql then ranks each bucket on its own,
-- on every core at once, with no sort over all the rows. Which bucket a key lands in
-- decides nothing about its rows: any spread gives the same fates.
SELECT u.*, key_bucket(u.dedup_key) AS bucket
FROM unified AS u
