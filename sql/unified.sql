-- unified: every input row placed on the unified 0-100 scale, with the reason it
-- cannot be used (NULL when it can). Nothing is filtered out here, so every counter
-- downstream sees every row.
--
-- Only the columns a decision or the output order needs are here. A row's descriptive
-- fields (src, frame size, pixel format, ...) wait outside the query under row_ref and
-- are fetched for the kept rows only, once their order is known.
CREATE VIEW unified AS
WITH labelled AS (
    SELECT
        s.*,
        -- The operator's override wins, then the row's own corpus_source, then its corpus.
        COALESCE(s.override_label, s.row_corpus_source, s.row_corpus) AS corpus_source
    FROM shards AS s
),
-- The corpora of the scales table, numbered in the byte order of their labels (the
-- order of the output). The ranking puts each bucket in output order by this number
-- (fates_by_rank.sql, fates_by_text.sql): one integer comparison where two labels
-- would be compared byte by byte. Past 254 corpora the numbers stop growing, and the
-- label itself orders those (see src/engine/sort_prefix.rs).
numbered_scales AS (
    SELECT
        sc.*,
        CAST(LEAST(ROW_NUMBER() OVER (ORDER BY sc.label), 255) AS TINYINT UNSIGNED) AS label_number
    FROM scales AS sc
)
SELECT
    l.input_idx,
    l.line,
    l.row_ref,
    l.corpus_source,
    -- NULL for a corpus the scales table does not know (such a row is dropped).
    sc.label_number AS corpus_number,
    -- A null corpus is reported as the corpus the row was counted under. Like the hash
    -- below, it travels only where it differs from corpus_source (almost never), and
    -- output_order.sql puts it back: COALESCE(corpus_unless_source, corpus_source).
    NULLIF(l.row_corpus, l.corpus_source) AS corpus_unless_source,
    -- The content hash travels once: as the dedup key (below) where it is one, and as
    -- itself only where it is not. The ranking copies every column of every row several
    -- times, and a second copy of a 64-character hash was a quarter of those bytes.
    -- output_order.sql puts it back: COALESCE(src_sha256_unless_key, dedup_key).
    CASE WHEN NOT l.sha_is_key THEN l.src_sha256 END AS src_sha256_unless_key,
    sc.slope * l.mos_native + sc.intercept AS mos,
    l.mos_native,
    sc.scale_label AS mos_native_scale,
    -- The rating spread; dedup_order.sql reads the dedup criterion off it.
    l.mos_std_dev,
    -- Rows without a content hash never merge across corpora.
    CASE
        WHEN l.sha_is_key THEN l.src_sha256
        ELSE '__nokey__/' || l.src_if_no_key || '/' || l.corpus_source
    END AS dedup_key,
    CASE
        WHEN sc.label IS NULL THEN 'unknown_corpus'
        WHEN l.mos_native IS NULL
          OR isnan(l.mos_native)
          OR l.mos_native < sc.native_min - sc.range_slack
          OR l.mos_native > sc.native_max + sc.range_slack THEN 'bad_scale'
        WHEN l.bad_value IS NOT NULL THEN 'bad_value'
    END AS drop_reason,
    l.mos_problem,
    l.bad_value
-- Every row, with its scale when the table has one. Written with the small table on
-- the left: DataFusion builds the hash table from the left side, and must not build
-- it from millions of rows.
FROM numbered_scales AS sc
RIGHT JOIN labelled AS l ON sc.label = l.corpus_source
