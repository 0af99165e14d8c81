-- stats: per group, how the unified MOS is spread, and the native scores behind it.
-- Reads the view stats_input(grp, mos, mos_native, mos_native_scale), one row per clip.
--
-- Quantiles are exact, interpolated linearly between the two nearest ranks, as
-- numpy's default method and DuckDB's quantile_cont compute them: for fraction q
-- of a group of n values sorted ascending, the position is q * (n - 1) (0-based),
-- and the value is lo + (hi - lo) * (position - floor(position)), lo and hi being
-- the values at floor(position) and ceil(position). DataFusion's percentile_cont
-- rounds that weight to six decimals, so it is not used here.
-- std is the sample standard deviation (n - 1 in the denominator), NULL for n = 1.
--
-- Only (group, mos) goes through the sort that ranks the values; everything else is a
-- plain per-group aggregate. Ranks and positions are compared as integers (BIGINT):
-- ROW_NUMBER() - 1 would otherwise become a DECIMAL, and its comparison with a
-- floored DOUBLE misses ranks past a few hundred thousand.
WITH valid AS (
    SELECT s.grp, s.mos, s.mos_native, s.mos_native_scale
    FROM stats_input AS s
    WHERE s.mos IS NOT NULL
),
per_group AS (
    SELECT
        v.grp,
        COUNT(*) AS n,
        AVG(v.mos) AS mean,
        STDDEV(v.mos) AS std,
        MIN(v.mos) AS min_mos,
        MAX(v.mos) AS max_mos,
        -- One label per corpus; a group mixing scales (e.g. --by width) lists them all.
        STRING_AGG(DISTINCT v.mos_native_scale, '+' ORDER BY v.mos_native_scale) AS scale_label,
        MIN(v.mos_native) AS native_min,
        MAX(v.mos_native) AS native_max
    FROM valid AS v
    GROUP BY v.grp
),
positioned AS (
    SELECT
        g.*,
        0.05 * (g.n - 1) AS pos05,
        0.25 * (g.n - 1) AS pos25,
        0.50 * (g.n - 1) AS pos50,
        0.75 * (g.n - 1) AS pos75,
        0.95 * (g.n - 1) AS pos95
    FROM per_group AS g
),
ranked AS (
    SELECT
        v.grp,
        v.mos,
        CAST(ROW_NUMBER() OVER (PARTITION BY v.grp ORDER BY v.mos) AS BIGINT) - 1 AS rank0
    FROM valid AS v
),
-- The two values around each position: ten ranks per group.
neighbours AS (
    SELECT
        r.grp,
        MAX(r.mos) FILTER (WHERE r.rank0 = CAST(FLOOR(p.pos05) AS BIGINT)) AS lo05,
        MAX(r.mos) FILTER (WHERE r.rank0 = CAST(CEIL(p.pos05) AS BIGINT)) AS hi05,
        MAX(r.mos) FILTER (WHERE r.rank0 = CAST(FLOOR(p.pos25) AS BIGINT)) AS lo25,
        MAX(r.mos) FILTER (WHERE r.rank0 = CAST(CEIL(p.pos25) AS BIGINT)) AS hi25,
        MAX(r.mos) FILTER (WHERE r.rank0 = CAST(FLOOR(p.pos50) AS BIGINT)) AS lo50,
        MAX(r.mos) FILTER (WHERE r.rank0 = CAST(CEIL(p.pos50) AS BIGINT)) AS hi50,
        MAX(r.mos) FILTER (WHERE r.rank0 = CAST(FLOOR(p.pos75) AS BIGINT)) AS lo75,
        MAX(r.mos) FILTER (WHERE r.rank0 = CAST(CEIL(p.pos75) AS BIGINT)) AS hi75,
        MAX(r.mos) FILTER (WHERE r.rank0 = CAST(FLOOR(p.pos95) AS BIGINT)) AS lo95,
        MAX(r.mos) FILTER (WHERE r.rank0 = CAST(CEIL(p.pos95) AS BIGINT)) AS hi95
    FROM ranked AS r
    JOIN positioned AS p ON p.grp IS NOT DISTINCT FROM r.grp
    GROUP BY r.grp
)
SELECT
    g.grp,
    g.n,
    g.mean,
    g.std,
    g.min_mos AS min,
    q.lo05 + (q.hi05 - q.lo05) * (g.pos05 - FLOOR(g.pos05)) AS p05,
    q.lo25 + (q.hi25 - q.lo25) * (g.pos25 - FLOOR(g.pos25)) AS p25,
    q.lo50 + (q.hi50 - q.lo50) * (g.pos50 - FLOOR(g.pos50)) AS median,
    q.lo75 + (q.hi75 - q.lo75) * (g.pos75 - FLOOR(g.pos75)) AS p75,
    q.lo95 + (q.hi95 - q.lo95) * (g.pos95 - FLOOR(g.pos95)) AS p95,
    g.max_mos AS max,
    g.scale_label,
    g.native_min,
    g.native_max
FROM positioned AS g
JOIN neighbours AS q ON q.grp IS NOT DISTINCT FROM g.grp
ORDER BY g.grp
