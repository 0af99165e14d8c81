"""Failures: typed exceptions carrying the CLI's message, exit code, and (for input
errors) the file and line; and the output-safety rules the CLI tests check
(tests/cli/aggregate_errors.rs, tests/cli/file_safety.rs), in-process."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from pathlib import Path

import pytest

import mosagg
from conftest import TS, Scratch, row


def good_line(sha: str) -> str:
    return json.dumps(row(sha, "lsvq", 3.0))


def snapshot(root: Path) -> dict:
    """Every file under `root` with the sha256 of its bytes, to prove nothing changed."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = Path(dirpath, n)
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def leftovers(root: Path) -> list:
    """Staged files, lock files and journals a run must never leave behind."""
    return [f for f in snapshot(root) if ".mosagg-" in f or f.endswith(".tmp")]


def two_shards(s: Scratch):
    a = s.shard("in/konvid_1k.jsonl", [row("aa", "konvid-1k", 4.0), row("bb", "konvid-1k", 2.0)])
    b = s.shard("in/lsvq.jsonl", [row("aa", "lsvq", 3.0), row("cc", "lsvq", 9.0)])
    return a, b


def test_invalid_json_raises_input_error_with_path_and_line_and_writes_nothing(s: Scratch):
    shard = s.shard_text("in.jsonl", f"{good_line('a')}\n\n{{\"src\": \n")
    before = s.files()
    with pytest.raises(mosagg.InputError) as e:
        s.aggregate([shard])
    assert e.value.path == str(shard)
    assert e.value.line == 3
    assert e.value.exit_code == 1
    assert str(e.value).startswith(f"{shard}:3: invalid JSON")
    assert isinstance(e.value, mosagg.MosaggError)
    assert s.files() == before


def test_invalid_utf8_is_invalid_json(s: Scratch):
    p = s.path("in.jsonl")
    p.write_bytes((good_line("a") + "\n").encode()
                  + b'{"src": "\xff\xfe", "src_sha256": "b", "mos": 3, "corpus": "lsvq"}\n')
    with pytest.raises(mosagg.InputError, match=":2: invalid JSON") as e:
        s.aggregate([p])
    assert e.value.line == 2
    assert "utf-8" in str(e.value).lower()


def test_missing_required_keys_are_listed_sorted(s: Scratch):
    shard = s.shard_text("in.jsonl", f'{good_line("a")}\n{{"src": "x", "mos": null}}\n')
    with pytest.raises(mosagg.InputError) as e:
        s.aggregate([shard])
    assert (e.value.path, e.value.line) == (str(shard), 2)
    assert str(e.value).endswith(":2: missing required keys: ['corpus', 'src_sha256']")


def test_a_non_object_line_is_a_hard_error(s: Scratch):
    shard = s.shard_text("in.jsonl", "[1, 2, 3]\n")
    with pytest.raises(mosagg.InputError, match=":1: expected JSON object, got list") as e:
        s.aggregate([shard])
    assert e.value.line == 1


def test_the_first_error_in_input_order_is_reported(s: Scratch):
    big = "".join(good_line(f"k{i}") + "\n" for i in range(30_000))
    first = s.shard_text("first.jsonl", big + "not json\n")
    second = s.shard_text("second.jsonl", "{broken\n")
    for _ in range(2):
        with pytest.raises(mosagg.InputError) as e:
            s.aggregate([first, second])
        assert (e.value.path, e.value.line) == (str(first), 30_001)


def test_an_unreadable_input_is_an_input_error_without_a_line(s: Scratch):
    mem = Path("/proc/self/mem")  # a regular file whose first page cannot be read (EIO)
    if not mem.is_file():
        pytest.skip("no /proc/self/mem")
    good = s.shard("good.jsonl", [row("a", "lsvq", 3.0)])
    before = s.files()
    with pytest.raises(mosagg.InputError) as e:
        s.aggregate([good, mem])
    assert e.value.path == str(mem)
    assert e.value.line is None
    assert s.files() == before


def test_existing_outputs_survive_a_failed_run(s: Scratch):
    a, b = two_shards(s)
    out = s.path("out/u.jsonl")
    mosagg.aggregate([a, b], out, aggregated_at=TS, rejects=s.path("out/rejects.jsonl"))
    before = snapshot(s.path("out"))
    broken = s.shard_text("in/broken.jsonl", good_line("zz") + "\n{not json\n")
    with pytest.raises(mosagg.InputError) as e:
        mosagg.aggregate([a, b, broken], out, aggregated_at=TS, rejects=s.path("out/rejects.jsonl"))
    assert e.value.path.endswith("broken.jsonl") and e.value.line == 2
    assert snapshot(s.path("out")) == before
    assert leftovers(s.root) == []


def test_missing_inputs_are_skipped_with_a_warning(s: Scratch, caplog: pytest.LogCaptureFixture):
    good = s.shard("good.jsonl", [row("a", "lsvq", 3.0)])
    absent = s.path("absent.jsonl")
    folder = s.path("a-folder")
    folder.mkdir()
    with caplog.at_level("WARNING"):
        counters = s.aggregate([absent, good, folder])
    assert f"input not found, skipping: {absent}" in caplog.messages
    assert f"input is not a regular file, skipping: {folder}" in caplog.messages
    assert all(r.name.startswith("mosagg") for r in caplog.records)
    assert (counters["inputs_missing"], counters["inputs_seen"]) == (2, 1)
    inputs = s.manifest()["run_provenance"]["inputs"]
    assert inputs[0]["exists"] is False and inputs[1]["exists"] is True


def test_no_input_at_all_raises_no_input_error_and_writes_nothing(s: Scratch):
    with pytest.raises(mosagg.NoInputError) as e:
        s.aggregate([s.path("a.jsonl"), s.path("b.jsonl")])
    assert str(e.value) == ("no input JSONL files exist on disk (checked 2 path(s)); "
                            "refusing to write an empty unified corpus")
    assert e.value.exit_code == 2
    assert isinstance(e.value, FileNotFoundError)
    assert s.files() == []


def test_odd_arguments_are_usage_errors_before_any_file_is_touched(s: Scratch):
    a, b = two_shards(s)
    out = s.path("out/u.jsonl")
    cases = [
        (dict(memory_limit="0.1"), "memory_limit"),
        (dict(memory_limit=4096), "smallest limit is 1M"),
        (dict(memory_limit=True), "memory_limit"),
        (dict(spill_dir="/nonexistent-mosagg-spill"), "/nonexistent-mosagg-spill"),
        (dict(aggregated_at="2026-02-31T00:00:00+00:00"), "2026-02-31"),
        (dict(corpus_source_overrides={"x.jsonl": "not-real"}), 'unknown corpus-source label "not-real"'),
        (dict(scales=s.path("no-such-scales.json")), "no-such-scales.json"),
    ]
    for kwargs, needle in cases:
        with pytest.raises(mosagg.UsageError) as e:
            mosagg.aggregate([a, b], out, **kwargs)
        assert needle in str(e.value), (kwargs, str(e.value))
        assert e.value.exit_code == 2
        assert isinstance(e.value, ValueError)
        assert not s.path("out").exists(), kwargs


def test_no_output_may_be_an_input_or_another_output_however_spelt(s: Scratch):
    a, b = two_shards(s)
    s.path("out").mkdir()
    os.symlink(a, s.path("link-to-a.jsonl"))
    another_a = s.path("in/../in/./konvid_1k.jsonl")
    out = s.path("out/u.jsonl")
    before = snapshot(s.root)
    cases = [
        (another_a, {}, ("--output", "--inputs")),
        (s.path("link-to-a.jsonl"), {}, ("--output", "--inputs")),
        (out, dict(rejects=another_a), ("--rejects", "--inputs")),
        (out, dict(manifest_out=s.path("out/./u.jsonl")), ("--output", "--manifest-out")),
        (out, dict(manifest_out=b), ("--manifest-out", "--inputs")),
    ]
    for output, kwargs, flags in cases:
        with pytest.raises(mosagg.UsageError) as e:
            mosagg.aggregate([a, b], output, aggregated_at=TS, **kwargs)
        for flag in flags:
            assert flag in str(e.value), (kwargs, str(e.value))
        assert snapshot(s.root) == before, kwargs


def test_a_locked_output_raises_busy_error_or_waits(s: Scratch):
    a, b = two_shards(s)
    out = s.path("u.jsonl")
    lock_path = s.path(".u.jsonl.mosagg-lock")
    with open(lock_path, "w") as lock:
        # Hold the output's lock as another run would (mosagg locks with flock).
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write("4242\n")
        lock.flush()
        with pytest.raises(mosagg.BusyError, match=r"another mosagg run \(pid 4242\) is writing") as e:
            mosagg.aggregate([a, b], out, aggregated_at=TS)
        assert e.value.exit_code == 1
        assert not out.exists()

        done = threading.Event()
        waiter = threading.Thread(
            target=lambda: (mosagg.aggregate([a, b], out, aggregated_at=TS, wait=True), done.set())
        )
        waiter.start()
        assert not done.wait(1.0), "wait=True must wait while the lock is held"
        assert not out.exists()
        fcntl.flock(lock, fcntl.LOCK_UN)
    waiter.join(60)
    assert done.is_set() and out.exists()
    assert not lock_path.exists(), "the lock file is removed after the run"


def test_concurrent_runs_in_threads_never_mix_their_files(s: Scratch):
    a, b = two_shards(s)
    c = s.shard("in/other.jsonl", [row("ee", "youtube-ugc", 2.5)])
    out = s.path("u.jsonl")
    errors = []

    def run(inputs):
        try:
            mosagg.aggregate(inputs, out, aggregated_at=TS, wait=True)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    for _ in range(3):
        threads = [threading.Thread(target=run, args=(i,)) for i in ([a, b], [c])]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        manifest = json.loads(s.path("u.manifest.json").read_text())
        for o in manifest["run_provenance"]["outputs"]:
            assert hashlib.sha256(Path(o["path"]).read_bytes()).hexdigest() == o["sha256"]
        assert leftovers(s.root) == []


def test_memory_limit_failures_raise_resources_error_naming_the_option(s: Scratch):
    a, b = two_shards(s)
    out = s.path("u.jsonl")
    with pytest.raises(mosagg.ResourcesError, match="--memory-limit 1M") as e:
        mosagg.aggregate([a, b], out, aggregated_at=TS, memory_limit="1M")
    assert e.value.exit_code == 1
    assert not out.exists()
    assert leftovers(s.root) == []


def test_any_file_name_works(s: Scratch):
    name = "we\u00efrd \u2603 name\t=x.jsonl"
    a = s.shard(name, [row("a", "lsvq", 3.0)])
    counters = mosagg.aggregate([a], s.path("out\u00e9.jsonl"), aggregated_at=TS,
                                corpus_source_overrides={a: "konvid-1k"})
    assert counters["rows_out"] == 1
    assert json.loads(s.path("out\u00e9.jsonl").read_text())["corpus_source"] == "konvid-1k"
