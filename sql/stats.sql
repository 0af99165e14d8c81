-- stats: per group, how the unified MOS is spread, and the native scores behind it.
-- Reads the view stats_input(grp, mos, mos_native, mos_native_scale, drawn), one row per
-- clip.
--
-- Quantiles are exact, interpolated linearly between the two nearest ranks, as
-- numpy's default method and DuckDB's quantile_cont compute them: for fraction q
-- of a group of n values sorted ascending, the position is q * (n - 1) (0-based),
-- and the value is lo + (hi - lo) * (position - floor(position)), lo and hi being
-- the values at floor(position) and ceil(position). exact_quantiles (an aggregate
-- mosagg registers) does exactly that: each group keeps its values, and the two ranks
-- around each position are selected rather than the file sorted. Its result has one
-- field per fraction, q1, q2, ... in the order asked. DataFusion's percentile_cont
-- rounds the weight to six decimals, so it is not used here. joined_distinct (also
-- mosagg's) gives a group's distinct non-NULL labels sorted and joined, NULL if none;
-- bin_counts (mosagg's too) counts a group's finite values per bin, the values below
-- the first bin in it and those past the last bin in the last, and lists the bins that
-- hold any as {bin, clips} (a group of one clip is one pair). The last column,
-- half_bins, is for the picture only and is not printed.
-- std is the sample standard deviation (n - 1 in the denominator), NULL for n = 1.
WITH
per_group AS (
    SELECT
        s.grp,
        COUNT(*) AS n,
        AVG(s.mos) AS mean,
        STDDEV(s.mos) AS std,
        MIN(s.mos) AS min_mos,
        MAX(s.mos) AS max_mos,
        exact_quantiles(s.mos, 0.05, 0.25, 0.50, 0.75, 0.95) AS q,
        -- One label per corpus; a group mixing scales (e.g. --by width) lists them
        -- all, sorted and joined by '+': STRING_AGG over the DISTINCT labels, in
        -- the same pass over the file.
        joined_distinct(s.mos_native_scale, '+') AS scale_label,
        MIN(s.mos_native) AS native_min,
        MAX(s.mos_native) AS native_max,
        -- For --plot: the group's clips counted in 200 bins 0.5 wide over 0-100,
        -- which stats_histogram.sql adds up into the picture's wider bins. Counted
        -- only when the picture is drawn (`drawn` is the same on every row): with a
        -- group per clip (--by src) the counts were a tenth of the time and an eighth
        -- of the memory of a table that never shows them.
        bin_counts(s.mos, 0.5, 200) FILTER (WHERE s.drawn) AS half_bins
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
    get_field(g.q, 'q1') AS p05,
    get_field(g.q, 'q2') AS p25,
    get_field(g.q, 'q3') AS median,
    get_field(g.q, 'q4') AS p75,
    get_field(g.q, 'q5') AS p95,
    g.max_mos AS max,
    g.scale_label,
    g.native_min,
    g.native_max,
    g.half_bins
FROM per_group AS g
