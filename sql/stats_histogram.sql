-- stats_histogram: per group, the share of its clips in each bin of the unified MOS
-- axis, for `mosagg stats --plot`. Reads the same stats_input view as stats.sql.
-- $1 is the bin width, a divisor of 100; bin k covers [k * $1, (k + 1) * $1), so
-- every group shares the same edges. Shares (not counts) keep a 1,200-clip corpus
-- visible beside a 150,000-clip one.
-- The native-range slack lets a unified MOS sit a little outside 0-100 (native 5.03
-- on a 1-5 scale is 100.75); such clips are counted in the edge bin, so the picture
-- keeps the shared 0-100 axis and still counts every clip.
WITH binned AS (
    SELECT
        s.grp,
        GREATEST(
            CAST(0 AS BIGINT),
            LEAST(CAST(FLOOR(s.mos / $1) AS BIGINT), CAST(ROUND(100.0 / $1) AS BIGINT) - 1)
        ) AS bin
    FROM stats_input AS s
    -- A finite MOS is all a unified file holds; a hand-made file's NaN or infinity
    -- has no bin.
    WHERE s.mos IS NOT NULL
      AND NOT isnan(s.mos)
      AND abs(s.mos) < CAST('Infinity' AS DOUBLE)
)
SELECT
    b.grp,
    b.bin,
    COUNT(*) AS clips,
    100.0 * COUNT(*) / SUM(COUNT(*)) OVER (PARTITION BY b.grp) AS percent
FROM binned AS b
GROUP BY b.grp, b.bin
ORDER BY b.grp, b.bin
