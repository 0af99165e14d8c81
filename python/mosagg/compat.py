"""Drop-in for the reference tool's ``aggregate_corpora`` module, for callers that expect
its failure behaviour exactly: every failure is ``SystemExit`` carrying the reference's
``error: …`` message, as ``aggregate_corpora.aggregate`` and its option parser raise.

    from mosagg import compat as aggregate_corpora
    counters = aggregate_corpora.aggregate(inputs, output, now_fn=lambda: "2026-05-09T00:00:00+00:00")
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import mosagg
from mosagg._errors import MosaggError

#: The built-in conversion table, in the reference's ``SCALE_CONVERSIONS`` shape.
SCALE_CONVERSIONS: Dict[str, Dict[str, Any]] = {
    label: {k: v for k, v in spec.items() if k != "source"}
    for label, spec in mosagg.scales().items()
}


def aggregate(
    inputs,
    output,
    *,
    corpus_source_overrides: Optional[Mapping[Any, str]] = None,
    now_fn=None,
    **options: Any,
) -> Dict[str, int]:
    """``mosagg.aggregate`` with the reference's failure behaviour (``SystemExit``)."""
    table = mosagg.scales(options.get("scales"))
    for label in (corpus_source_overrides or {}).values():
        if label not in table:
            # The reference's option parser refuses it with exactly this message.
            raise SystemExit(
                f"error: unknown corpus-source label {label!r}; valid labels: {sorted(table)}"
            )
    try:
        return mosagg.aggregate(
            inputs,
            output,
            corpus_source_overrides=corpus_source_overrides,
            now_fn=now_fn,
            **options,
        )
    except MosaggError as exc:
        raise SystemExit(f"error: {exc.message}") from exc
