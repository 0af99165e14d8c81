"""mosagg from Python: aggregate subjective video-quality corpora into one training set
and read it back as Arrow, with the Rust core that the ``mosagg`` command runs.

``aggregate`` takes the arguments of the reference tool's
``aggregate_corpora.aggregate`` (``inputs, output, *, corpus_source_overrides, now_fn``),
so its callers switch by changing one import; it writes what ``mosagg aggregate``
writes (JSONL, Parquet, manifest, optional rejects ledger) under the same safety rules.
Failures raise the typed exceptions below; ``mosagg.compat`` raises ``SystemExit`` with
the reference's messages instead. WARNING lines go to the ``logging`` logger ``mosagg``.

Tables come back as ``pyarrow.Table``, handed over through the Arrow C stream interface.
Every long call releases the GIL; Ctrl-C stops it cleanly (no partial output is left).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Mapping, Optional, Tuple, Union

from . import _mosagg
from ._errors import (
    BusyError,
    EngineError,
    FileError,
    InputError,
    InternalError,
    MosaggError,
    NoInputError,
    ResourcesError,
    UsageError,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow

__version__: str = _mosagg.__version__

StrPath = Union[str, "os.PathLike[str]"]
#: A scale table: a path to a ``--scales`` JSON file, or the same document as a dict
#: ``{label: {slope, intercept, native_min, native_max, scale_label}}``.
ScalesArg = Union[None, StrPath, Mapping[str, Mapping[str, Any]]]


def aggregate(
    inputs: Iterable[StrPath],
    output: StrPath,
    *,
    corpus_source_overrides: Optional[Mapping[StrPath, str]] = None,
    now_fn: Optional[Callable[[], str]] = None,
    aggregated_at: Optional[str] = None,
    parquet: Optional[StrPath] = None,
    manifest_out: Optional[StrPath] = None,
    rejects: Optional[StrPath] = None,
    scales: ScalesArg = None,
    memory_limit: Union[None, int, str] = None,
    spill_dir: Optional[StrPath] = None,
    wait: bool = False,
) -> Dict[str, int]:
    """Aggregate ``inputs`` (JSONL shards, in priority order) into ``output``.

    Returns the counters: the reference's ``rows_in, rows_out, dropped_unknown_corpus,
    dropped_bad_scale, cross_corpus_dedups, inputs_seen, inputs_missing`` plus mosagg's
    ``same_corpus_dups`` and ``dropped_bad_value``.

    ``corpus_source_overrides`` maps an input path to a corpus label (the same file
    matches however it is spelt); ``now_fn`` is called once for ``aggregated_at_utc``
    (``aggregated_at`` gives the text directly; without either, ``SOURCE_DATE_EPOCH``
    or the current second). ``parquet``, ``manifest_out``, ``rejects``, ``scales``,
    ``memory_limit`` (bytes, or ``"512M"``-style text), ``spill_dir`` and ``wait`` mean
    what the ``mosagg aggregate`` flags of the same names mean.
    """
    if now_fn is not None and aggregated_at is not None:
        raise UsageError("pass now_fn or aggregated_at, not both", exit_code=2)
    if now_fn is not None:
        aggregated_at = now_fn()
        if not isinstance(aggregated_at, str):
            raise UsageError(
                f"now_fn must return the timestamp as text, got {type(aggregated_at).__name__}",
                exit_code=2,
            )
    inputs = _path_list(inputs, "inputs")
    overrides = [(path, label) for path, label in (corpus_source_overrides or {}).items()]
    scales_file, scales_json = _scales_args(scales)
    return _mosagg.aggregate(
        inputs,
        output,
        overrides,
        aggregated_at,
        parquet,
        manifest_out,
        rejects,
        scales_file,
        scales_json,
        _memory_limit(memory_limit),
        spill_dir,
        bool(wait),
        _cli_equivalent(inputs, output, overrides, aggregated_at, parquet, manifest_out, rejects,
                        scales_file, memory_limit, spill_dir, wait),
    )


def read_unified(path: StrPath) -> "pyarrow.Table":
    """A unified training set (``.jsonl`` or ``.parquet``) as a ``pyarrow.Table`` in file
    order, typed exactly as the Parquet output (Utf8, Int64, Float64; 18 columns)."""
    return _mosagg.read_unified(path)


def query(
    sql: str,
    tables: Optional[Mapping[str, StrPath]] = None,
    *,
    memory_limit: Union[None, int, str] = None,
    spill_dir: Optional[StrPath] = None,
) -> "pyarrow.Table":
    """Run one read-only SQL statement over ``tables`` (name -> .parquet, .jsonl/.json/
    .ndjson, or a folder of .parquet files), as ``mosagg query`` does. ``memory_limit``
    (bytes, or ``"512M"``-style text) and ``spill_dir`` bound its sorts, joins and
    groupings as ``--memory-limit`` and ``--spill-dir`` do; a query that needs more
    raises ``ResourcesError``. The result itself is returned whole."""
    return _mosagg.query(sql, list((tables or {}).items()), _memory_limit(memory_limit), spill_dir)


def stats(
    path: StrPath,
    by: str = "corpus_source",
    memory_limit: Union[None, int, str] = None,
    spill_dir: Optional[StrPath] = None,
) -> "pyarrow.Table":
    """Per-group distribution of the unified MOS (n, mean, std, min, p05 … max, and the
    native scale), as ``mosagg stats PATH --by BY`` computes it. ``memory_limit`` (bytes,
    or ``"512M"``-style text) and ``spill_dir`` bound it as ``--memory-limit`` and
    ``--spill-dir`` do; a file with more groups than that holds raises
    ``ResourcesError``."""
    return _mosagg.stats(path, by, _memory_limit(memory_limit), spill_dir)


def scales(scales: ScalesArg = None) -> Dict[str, Dict[str, Any]]:
    """The scale table in force: the built-in one, with ``scales`` (a file path or a dict
    of the same shape) laid over it. ``{label: {slope, intercept, native_min,
    native_max, scale_label, source}}``, as ``mosagg scales --format json`` prints it."""
    scales_file, scales_json = _scales_args(scales)
    return json.loads(_mosagg.scales_json(scales_file, scales_json))


def _path_list(paths: Iterable[StrPath], name: str) -> list:
    # One path is iterable too (a str by character): refuse it rather than read "a", "/", …
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise UsageError(f"{name} must be a list of paths, got one path", exit_code=2)
    return list(paths)


def _scales_args(scales: ScalesArg) -> Tuple[Optional[StrPath], Optional[str]]:
    if scales is None:
        return None, None
    if isinstance(scales, Mapping):
        try:
            return None, json.dumps(scales, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"scales: not a JSON document ({exc})", exit_code=2) from None
    return scales, None


def _memory_limit(limit: Union[None, int, str]) -> Optional[int]:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, str)):
        raise UsageError(
            f"memory_limit must be a byte count or text like '512M', got {limit!r}", exit_code=2
        )
    return _mosagg.memory_limit(str(limit))


def _cli_equivalent(inputs, output, overrides, aggregated_at, parquet, manifest_out, rejects,
                    scales_file, memory_limit, spill_dir, wait) -> list:
    """The ``mosagg aggregate`` command line this call stands for: the manifest records it."""
    argv = ["mosagg.aggregate", "--inputs", *map(os.fsdecode, inputs), "--output", os.fsdecode(output)]
    for path, label in overrides:
        argv += ["--corpus-source-override", f"{os.fsdecode(path)}={label}"]
    for flag, value in (
        ("--aggregated-at", aggregated_at),
        ("--parquet", parquet),
        ("--manifest-out", manifest_out),
        ("--rejects", rejects),
        ("--scales", scales_file),
        ("--memory-limit", memory_limit),
        ("--spill-dir", spill_dir),
    ):
        if value is not None:
            argv += [flag, os.fsdecode(value) if isinstance(value, (str, bytes, os.PathLike)) else str(value)]
    if wait:
        argv.append("--wait")
    return argv


__all__ = [
    "BusyError",
    "EngineError",
    "FileError",
    "InputError",
    "InternalError",
    "MosaggError",
    "NoInputError",
    "ResourcesError",
    "UsageError",
    "aggregate",
    "query",
    "read_unified",
    "scales",
    "stats",
    "__version__",
]
