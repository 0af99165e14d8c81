-- merge_summary: the counts on the summary line. duplicates = rows_in - rows_out;
-- unique_sources counts the distinct non-empty src_sha256 strings among the rows written.
SELECT
    (SELECT COUNT(*) FROM merge_rows) AS rows_in,
    COUNT(*) AS rows_out,
    COUNT(DISTINCT source) AS unique_sources
FROM merge_kept
