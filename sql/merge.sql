-- merge: which encode-grid rows survive (CONTRACT §8).
--
-- A row's natural key is (src_sha256, encoder, preset, crf), each part already
-- rendered as text that is equal exactly when the reference's Python values are.
-- Of the rows sharing a key the first seen wins: the earlier input, then the
-- earlier line. Survivors come back in that same order, which is the order the
-- reference writes them in.
WITH ranked AS (
    SELECT
        r.input_idx,
        r.line,
        r.source,
        ROW_NUMBER() OVER (
            PARTITION BY r.k_src_sha256, r.k_encoder, r.k_preset, r.k_crf
            ORDER BY r.input_idx, r.line
        ) AS seen_rank
    FROM merge_rows AS r
)
SELECT input_idx, line, source
FROM ranked
WHERE seen_rank = 1
ORDER BY input_idx, line
