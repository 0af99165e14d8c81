"""Median of the floor probe's runs (bench/floor.rs), as a Markdown table, with the
wall times of this bench run set against the floor.

usage: floor_table.py --set NAME [TOOL=MEAN_S ...] -- RUN.tsv...
"""

import statistics
import sys


def main(argv):
    if "--" not in argv or argv[:1] != ["--set"]:
        sys.exit(__doc__)
    split = argv.index("--")
    name, means, files = argv[1], argv[2:split], argv[split + 1 :]
    runs = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            rows = [line.rstrip("\n").split("\t") for line in f][1:]
        runs.append({r[0]: r for r in rows})
    if not runs:
        sys.exit("floor_table.py: no runs")
    first = runs[0]

    def median(part, col=1):
        return statistics.median(float(r[part][col]) for r in runs)

    print(f"### {name}: the floor (median of {len(runs)} probe runs)\n")
    print("| part | CPU s | of it in the kernel | bytes | rows | what |")
    print("|---|---:|---:|---:|---:|---|")
    for part, row in first.items():
        if part in ("cpu_floor", "wall_floor"):
            continue
        print(
            f"| {part} | {median(part):.3f} | {median(part, 2):.3f} | "
            f"{int(row[3]):,} | {int(row[4]):,} | {row[5]} |"
        )
    cpu, wall = median("cpu_floor"), median("wall_floor")
    fsync = median("fsync") if "fsync" in first else 0.0
    print(f"| **floor** | **{cpu:.3f}** | | | | CPU s of what every run must do: read, hash, parse, write both files |")
    print(
        f"| **wall floor** | **{wall:.3f}** | | | | that CPU shared perfectly over the cores; "
        f"{wall + fsync:.3f} s with the disk wait of the fsync |"
    )
    if means:
        print("\n| tool | mean wall s (this run) | x the wall floor |")
        print("|---|---:|---:|")
        for m in means:
            tool, _, mean = m.partition("=")
            print(f"| {tool} | {float(mean):.3f} | {float(mean) / wall:.2f} |")
    print()


if __name__ == "__main__":
    main(sys.argv[1:])
