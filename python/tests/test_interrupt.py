"""Long calls release the GIL, and Ctrl-C stops a run cleanly: KeyboardInterrupt, with
the CLI's output-safety rules kept (tests/cli/file_safety.rs, signals): the previous
output set untouched, no staged file, lock file or spill folder left behind."""

from __future__ import annotations

import _thread
import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import mosagg
from conftest import TS, row
from test_errors import leftovers, snapshot

BIG_ROWS = 60_000


@pytest.fixture(scope="module")
def big_shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shard a debug build needs several seconds for."""
    p = tmp_path_factory.mktemp("big") / "big.jsonl"
    with p.open("w") as f:
        for i in range(BIG_ROWS):
            f.write(json.dumps(row(f"{i:064x}", "lsvq" if i % 2 else "konvid-1k", 1 + (i % 400) / 100)) + "\n")
    return p


def previous_set(folder: Path) -> Path:
    """An output set from an earlier run, which an interrupted run must leave as it was."""
    small = folder / "in" / "small.jsonl"
    small.parent.mkdir(parents=True)
    small.write_text(json.dumps(row("a", "lsvq", 3.0)) + "\n")
    out = folder / "out" / "u.jsonl"
    mosagg.aggregate([small], out, aggregated_at=TS)
    return out


@pytest.fixture
def ctrl_c_handled():
    """Python's own Ctrl-C handler, as in a terminal. A process started in the
    background by a non-interactive shell (a CI script's `cmd &`, nohup) inherits SIGINT
    ignored, and then Python installs no handler: Ctrl-C, `interrupt_main` and a SIGINT
    do nothing, and the run would rightly finish."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def when_spilling_starts(spill_dir: Path, then, timeout: float = 60.0) -> threading.Thread:
    """Calls `then` once the run's spill folder exists: the run is under way by then."""
    def watch():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.name.startswith("mosagg-spill-") for p in spill_dir.iterdir()):
                then()
                return
            time.sleep(0.01)
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


def test_long_work_releases_the_gil(big_shard: Path, tmp_path: Path):
    result = {}
    worker = threading.Thread(
        target=lambda: result.update(mosagg.aggregate([big_shard], tmp_path / "u.jsonl", aggregated_at=TS))
    )
    started = time.monotonic()
    worker.start()
    spins = 0
    while worker.is_alive():
        spins += 1  # pure Python: runs only while the aggregation does not hold the GIL
    elapsed = time.monotonic() - started
    worker.join()
    assert result["rows_out"] == BIG_ROWS
    assert elapsed > 0.5, "the run must be long enough for this to mean something"
    assert spins > 100_000, f"only {spins} loop turns in {elapsed:.1f} s: the GIL was held"


def test_ctrl_c_stops_the_run_and_leaves_the_previous_set(big_shard: Path, tmp_path: Path, ctrl_c_handled):
    out = previous_set(tmp_path)
    before = snapshot(out.parent)
    spill = tmp_path / "spill"
    spill.mkdir()
    watcher = when_spilling_starts(spill, _thread.interrupt_main)  # what Ctrl-C does
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        mosagg.aggregate([big_shard], out, aggregated_at=TS, spill_dir=spill,
                         rejects=out.with_name("rejects.jsonl"))
    watcher.join()
    assert time.monotonic() - started < 30
    assert snapshot(out.parent) == before, "the previous output set is untouched"
    assert leftovers(tmp_path) == []
    assert list(spill.iterdir()) == [], "the spill folder is removed"
    # The output is not left locked: the next run goes through.
    assert mosagg.aggregate([tmp_path / "in" / "small.jsonl"], out, aggregated_at=TS)["rows_out"] == 1


def test_sigint_to_a_python_process_stops_it_cleanly(big_shard: Path, tmp_path: Path):
    out = previous_set(tmp_path)
    before = snapshot(out.parent)
    spill = tmp_path / "spill"
    spill.mkdir()
    # The child handles SIGINT as in a terminal, whatever this process inherited (see
    # `ctrl_c_handled`).
    script = textwrap.dedent(f"""
        import signal, sys, mosagg
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            mosagg.aggregate([{str(big_shard)!r}], {str(out)!r}, aggregated_at={TS!r}, spill_dir={str(spill)!r})
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
        print("finished", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        watcher = when_spilling_starts(spill, lambda: proc.send_signal(signal.SIGINT))
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    watcher.join()
    assert (proc.returncode, stdout.strip()) == (130, "interrupted"), stderr
    assert snapshot(out.parent) == before
    assert leftovers(tmp_path) == []
    assert list(spill.iterdir()) == []
