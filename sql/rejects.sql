-- rejects: every row that did not reach the output, in input order, with the
-- winning row's location for the two dedup reasons.
SELECT
    i.path,
    r.line,
    r.fate AS reason,
    r.corpus_source,
    r.mos_native,
    r.mos_problem,
    r.bad_value,
    r.mos_std_dev,
    CASE WHEN r.fate IN ('cross_corpus_dup', 'same_corpus_dup') THEN k.path END AS kept_path,
    CASE WHEN r.fate IN ('cross_corpus_dup', 'same_corpus_dup') THEN r.kept_line END AS kept_line,
    r.kept_corpus_source,
    r.kept_mos_std_dev
FROM rejects AS r
JOIN inputs AS i ON i.input_idx = r.input_idx
LEFT JOIN inputs AS k ON k.input_idx = r.kept_input_idx
ORDER BY r.input_idx, r.line
