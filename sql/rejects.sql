-- rejects: every row that did not reach the output, in input order, with the
-- row that won its key for the two dedup reasons (from `winners`, the kept rows).
--
-- The input paths are looked up with the one-row-per-input `inputs` table on the left
-- of RIGHT JOINs: DataFusion builds its hash table from the left side, and must not
-- build it from the rejected rows (half a million at 10M rows), nor hand the sort one
-- batch of all of them, as the join emits its unmatched build rows at once.
WITH judged AS (
    SELECT
        r.input_idx,
        r.line,
        r.fate,
        r.corpus_source,
        r.mos_native,
        r.mos_problem,
        r.bad_value,
        r.mos_std_dev,
        w.input_idx AS kept_input_idx,
        w.line AS kept_line,
        w.corpus_source AS kept_corpus_source,
        w.mos_std_dev AS kept_mos_std_dev
    FROM rejects AS r
    LEFT JOIN winners AS w
        ON w.dedup_key = r.dedup_key
       AND r.fate IN ('cross_corpus_dup', 'same_corpus_dup')
)
SELECT
    i.path,
    j.line,
    j.fate AS reason,
    j.corpus_source,
    j.mos_native,
    j.mos_problem,
    j.bad_value,
    j.mos_std_dev,
    k.path AS kept_path,
    j.kept_line,
    j.kept_corpus_source,
    j.kept_mos_std_dev
FROM inputs AS k
RIGHT JOIN (
    inputs AS i
    RIGHT JOIN judged AS j ON i.input_idx = j.input_idx
) ON k.input_idx = j.kept_input_idx
ORDER BY j.input_idx, j.line
