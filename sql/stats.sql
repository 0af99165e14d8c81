-- stats: per group, how the unified MOS is spread, and the native scores behind it.
-- Reads the view stats_input(grp, mos, mos_native, mos_native_scale), one row per clip.
--
-- Quantiles are exact, interpolated linearly between the two nearest ranks, as
-- numpy's default method and DuckDB's quantile_cont compute them: for fraction q
-- of a group of n values sorted ascending, the position is q * (n - 1) (0-based),
-- and the value is lo + (hi - lo) * (position - floor(position)), lo and hi being
-- the values at floor(position) and ceil(position). quantile_exact (a function
-- mosagg registers) does exactly that on each group's list of values, by selecting
-- the two ranks rather than sorting the file. DataFusion's percentile_cont rounds
-- the weight to six decimals, so it is not used here.
-- std is the sample standard deviation (n - 1 in the denominator), NULL for n = 1.
WITH per_group AS (
    SELECT
        s.grp,
        COUNT(*) AS n,
        AVG(s.mos) AS mean,
        STDDEV(s.mos) AS std,
        MIN(s.mos) AS min_mos,
        MAX(s.mos) AS max_mos,
        ARRAY_AGG(s.mos) AS mos_values,
        -- One label per corpus; a group mixing scales (e.g. --by width) lists them all.
        STRING_AGG(DISTINCT s.mos_native_scale, '+' ORDER BY s.mos_native_scale) AS scale_label,
        MIN(s.mos_native) AS native_min,
        MAX(s.mos_native) AS native_max
    FROM stats_input AS s
    WHERE s.mos IS NOT NULL
    GROUP BY s.grp
)
SELECT
    g.grp,
    g.n,
    g.mean,
    g.std,
    g.min_mos AS min,
    quantile_exact(g.mos_values, 0.05) AS p05,
    quantile_exact(g.mos_values, 0.25) AS p25,
    quantile_exact(g.mos_values, 0.50) AS median,
    quantile_exact(g.mos_values, 0.75) AS p75,
    quantile_exact(g.mos_values, 0.95) AS p95,
    g.max_mos AS max,
    g.scale_label,
    g.native_min,
    g.native_max
FROM per_group AS g
ORDER BY g.grp
