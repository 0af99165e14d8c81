-- stats_order: the rows of stats.sql (`stats_rows`, a row per group) in the order of
-- their group, byte-wise.
SELECT *
FROM stats_rows
ORDER BY grp
