"""Bar chart (PNG) of the ratios in a pytest-benchmark JSON file.

    python benchmarks/chart.py bench_scan.json bench_scan.png

Within each benchmark group the slowest median is divided by each row's median,
so the bar shows how many times faster that row is than the slowest one
(cython vs python codec, mmpfast vs optommp).  Groups with one row are
left out.  matplotlib is needed here only (never at runtime).
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from typing import Dict, List, Tuple


def ratios(path: str) -> List[Tuple[str, str, float, float]]:
    """``(group, row, median seconds, times faster than the group's slowest)``."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    groups: Dict[str, List[Tuple[str, float]]] = defaultdict(list)
    for b in data["benchmarks"]:
        label = b.get("extra_info", {}).get("impl") or b.get("param") or b["name"]
        groups[b.get("group") or b["name"]].append((str(label), float(b["stats"]["median"])))
    out = []
    for group, rows in groups.items():
        if len(rows) < 2:
            continue
        slowest = max(mean for _, mean in rows)
        for label, mean in sorted(rows, key=lambda r: r[1]):
            out.append((group, label, mean, slowest / mean))
    return out


def main(argv: List[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    src = argv[1]
    dst = argv[2] if len(argv) == 3 else src.rsplit(".", 1)[0] + ".png"
    rows = ratios(src)
    if not rows:
        print("no group with two or more rows to compare", file=sys.stderr)
        return 1
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labels = [f"{g}\n{r}" for g, r, _, _ in rows]
    values = [x for _, _, _, x in rows]
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(rows) + 1.5))
    bars = ax.barh(range(len(rows)), values, color=["#3b7dd8" if v > 1.0001 else "#b0b0b0" for v in values])
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("times faster than the slowest row of its group (log scale)")
    ax.set_title("mmpfast: speed ratios within each benchmark group (one run)")
    for bar, (_, _, mean, x) in zip(bars, rows):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                f" {x:.1f}x  ({mean * 1e6:.1f} us)" if mean < 0.01 else f" {x:.1f}x  ({mean * 1e3:.1f} ms)",
                va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(dst, dpi=120)
    plt.close(fig)
    for g, r, mean, x in rows:
        print(f"{g:45s} {r:12s} {mean * 1e6:12.1f} us  {x:8.1f}x")
    print(f"wrote {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
