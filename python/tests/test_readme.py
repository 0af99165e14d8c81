"""The README's "From Python" example runs as printed, on the repository's data-samples."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## From Python"):]
    section = section[: section.index("\n## ", 1)]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs(tmp_path: Path):
    shutil.copytree(REPO / "data-samples", tmp_path / "data-samples")
    run = subprocess.run([sys.executable, "-c", readme_example()], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert "'rows_in': 143" in lines[0] and "'rows_out': 127" in lines[0]
    corpora = [line.split()[0] for line in lines[1:]]
    assert corpora == ["konvid-150k", "konvid-1k", "lsvq", "netflix-public", "waterloo-ivc-4k", "youtube-ugc"]
    assert all("weight=" in line and "mse=" in line for line in lines[1:])
    for name in ("unified_corpus.jsonl", "unified_corpus.parquet", "unified_corpus.manifest.json", "rejects.jsonl"):
        assert (tmp_path / "out" / name).is_file(), name
    # The rows dropped on the way are logged through Python's logging (shown on stderr).
    assert "row dropped" in run.stderr
