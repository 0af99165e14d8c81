-- rejects: every row that did not reach the output, in input order, with the
-- row that won its key for the two dedup reasons (from `winners`, the kept rows).
SELECT
    i.path,
    r.line,
    r.fate AS reason,
    r.corpus_source,
    r.mos_native,
    r.mos_problem,
    r.bad_value,
    r.mos_std_dev,
    k.path AS kept_path,
    w.line AS kept_line,
    w.corpus_source AS kept_corpus_source,
    w.mos_std_dev AS kept_mos_std_dev
FROM rejects AS r
JOIN inputs AS i ON i.input_idx = r.input_idx
LEFT JOIN winners AS w
    ON w.dedup_key = r.dedup_key
   AND r.fate IN ('cross_corpus_dup', 'same_corpus_dup')
LEFT JOIN inputs AS k ON k.input_idx = w.input_idx
ORDER BY r.input_idx, r.line
