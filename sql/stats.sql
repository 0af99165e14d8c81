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
WITH ranked AS (
    SELECT
        s.grp,
        s.mos,
        s.mos_native,
        s.mos_native_scale,
        ROW_NUMBER() OVER (PARTITION BY s.grp ORDER BY s.mos) - 1 AS rank0,
        COUNT(*) OVER (PARTITION BY s.grp) - 1 AS last_rank
    FROM stats_input AS s
    WHERE s.mos IS NOT NULL
),
positioned AS (
    SELECT
        r.*,
        0.05 * r.last_rank AS pos05,
        0.25 * r.last_rank AS pos25,
        0.50 * r.last_rank AS pos50,
        0.75 * r.last_rank AS pos75,
        0.95 * r.last_rank AS pos95
    FROM ranked AS r
),
per_group AS (
    SELECT
        p.grp,
        COUNT(*) AS n,
        AVG(p.mos) AS mean,
        STDDEV(p.mos) AS std,
        MIN(p.mos) AS min_mos,
        MAX(p.mos) AS max_mos,
        -- The positions are the same on every row of a group; MAX just picks it.
        MAX(p.pos05) AS pos05,
        MAX(p.pos25) AS pos25,
        MAX(p.pos50) AS pos50,
        MAX(p.pos75) AS pos75,
        MAX(p.pos95) AS pos95,
        MAX(p.mos) FILTER (WHERE p.rank0 = FLOOR(p.pos05)) AS lo05,
        MAX(p.mos) FILTER (WHERE p.rank0 = CEIL(p.pos05)) AS hi05,
        MAX(p.mos) FILTER (WHERE p.rank0 = FLOOR(p.pos25)) AS lo25,
        MAX(p.mos) FILTER (WHERE p.rank0 = CEIL(p.pos25)) AS hi25,
        MAX(p.mos) FILTER (WHERE p.rank0 = FLOOR(p.pos50)) AS lo50,
        MAX(p.mos) FILTER (WHERE p.rank0 = CEIL(p.pos50)) AS hi50,
        MAX(p.mos) FILTER (WHERE p.rank0 = FLOOR(p.pos75)) AS lo75,
        MAX(p.mos) FILTER (WHERE p.rank0 = CEIL(p.pos75)) AS hi75,
        MAX(p.mos) FILTER (WHERE p.rank0 = FLOOR(p.pos95)) AS lo95,
        MAX(p.mos) FILTER (WHERE p.rank0 = CEIL(p.pos95)) AS hi95,
        -- One label per corpus; a group mixing scales (e.g. --by width) lists them all.
        STRING_AGG(DISTINCT p.mos_native_scale, '+' ORDER BY p.mos_native_scale) AS scale_label,
        MIN(p.mos_native) AS native_min,
        MAX(p.mos_native) AS native_max
    FROM positioned AS p
    GROUP BY p.grp
)
SELECT
    g.grp,
    g.n,
    g.mean,
    g.std,
    g.min_mos AS min,
    g.lo05 + (g.hi05 - g.lo05) * (g.pos05 - FLOOR(g.pos05)) AS p05,
    g.lo25 + (g.hi25 - g.lo25) * (g.pos25 - FLOOR(g.pos25)) AS p25,
    g.lo50 + (g.hi50 - g.lo50) * (g.pos50 - FLOOR(g.pos50)) AS median,
    g.lo75 + (g.hi75 - g.lo75) * (g.pos75 - FLOOR(g.pos75)) AS p75,
    g.lo95 + (g.hi95 - g.lo95) * (g.pos95 - FLOOR(g.pos95)) AS p95,
    g.max_mos AS max,
    g.scale_label,
    g.native_min,
    g.native_max
FROM per_group AS g
ORDER BY g.grp
