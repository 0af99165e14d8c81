-- stats_histogram: per group, the share of its clips in each bin of the unified MOS
-- axis, for `mosagg stats --plot`. Reads group_bins(grp, half_bin, clips): stats.sql's
-- half_bins, a row per group and bin that holds any: the group's clips in bin
-- half_bin, 0.5 wide, covering [half_bin / 2, (half_bin + 1) / 2). So the file is read
-- once for the statistics and the picture.
-- $1 is the picture's bin width, a multiple of 0.5 that divides 100: its bin k covers
-- [k * $1, (k + 1) * $1), the $1 / 0.5 half bins from k * $1 / 0.5 on, and every group
-- shares the same edges. Shares (not counts) keep a 1,200-clip corpus visible beside a
-- 150,000-clip one.
-- The native-range slack lets a unified MOS sit a little outside 0-100 (native 5.03
-- on a 1-5 scale is 100.75); such clips were counted in the edge bin, so the picture
-- keeps the shared 0-100 axis and still counts every clip. A NaN or infinite MOS (only
-- a hand-made file has one) has no bin.
WITH binned AS (
    SELECT
        h.grp,
        h.half_bin / CAST($1 / 0.5 AS BIGINT) AS bin,
        SUM(h.clips) AS clips
    FROM group_bins AS h
    GROUP BY h.grp, h.half_bin / CAST($1 / 0.5 AS BIGINT)
)
SELECT
    b.grp,
    b.bin,
    b.clips,
    100.0 * b.clips / SUM(b.clips) OVER (PARTITION BY b.grp) AS percent
FROM binned AS b
-- Only the bins that hold clips, as counting the rows themselves gives.
WHERE b.clips > 0
ORDER BY b.grp, b.bin
