"""Run every benchmark once and write the ratio table and chart.

    python benchmarks/report.py            # quick suite (-m "not slow")
    python benchmarks/report.py --slow     # also the 10-second ScanLoop run
    python benchmarks/report.py --percall  # also the per-call CPU table (benchmarks/percall.py)

Runs ``pytest benchmarks`` in ONE process (so every ratio compares rows of
the same run), stores the pytest-benchmark JSON in
``benchmarks/results/latest.json``, prints a Markdown table of each group's
rows (median time and how many times faster than the group's slowest row)
with the machine it ran on, writes it to ``benchmarks/results/latest.md``
and draws ``docs/benchmarks.png``.  With ``--percall`` it then runs
``benchmarks/percall.py`` (client CPU per call against bare-socket and
asyncio floors, its own process) and writes ``benchmarks/results/percall.md``.
Needs the ``bench`` extra.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from chart import main as chart_main, ratios  # noqa: E402


def machine() -> str:
    """One line naming the machine and the codec the run used."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    code = "import mmpfast.codec as c; print(c.IMPLEMENTATION)"
    impl = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd="/", check=False).stdout.strip() or "unknown"
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}, default codec: {impl}")


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--slow", action="store_true", help="include the 10 s ScanLoop run")
    ap.add_argument("--percall", action="store_true", help="also run benchmarks/percall.py (default options)")
    ap.add_argument("--out", default=str(HERE / "results"), help="folder for latest.json / latest.md")
    ap.add_argument("--png", default=str(ROOT / "docs" / "benchmarks.png"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Path(args.png).parent.mkdir(parents=True, exist_ok=True)
    js = out / "latest.json"
    cmd = [sys.executable, "-m", "pytest", str(HERE), "-q", "-p", "no:cacheprovider",
           "--benchmark-only", f"--benchmark-json={js}", "--benchmark-columns=median,ops",
           "--benchmark-group-by=group", "-s"]
    if not args.slow:
        cmd += ["-m", "not slow"]
    # run from a neutral folder so the installed (compiled) package is imported
    rc = subprocess.run(cmd, cwd="/", check=False).returncode
    if rc != 0:
        print(f"benchmark run failed ({rc})", file=sys.stderr)
        return rc
    rows = ratios(str(js))
    lines = [f"Machine: {machine()}", "",
             "| group | row | median | × faster than slowest row |", "|---|---|---|---|"]
    for g, r, med, x in rows:
        t = f"{med * 1e6:.2f} µs" if med < 1e-3 else f"{med * 1e3:.2f} ms"
        lines.append(f"| {g} | {r} | {t} | {x:.1f}× |")
    with open(js, encoding="utf-8") as fh:
        data = json.load(fh)
    extras = [(b["name"], b["extra_info"]) for b in data["benchmarks"] if b.get("extra_info")]
    lines += ["", "Extra figures recorded by the benchmarks (extra_info):", ""]
    for name, info in extras:
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in info.items()}
        lines.append(f"- `{name}`: {shown}")
    text = "\n".join(lines) + "\n"
    (out / "latest.md").write_text(text, encoding="utf-8")
    print(text)
    rc = chart_main(["chart", str(js), args.png])
    if rc == 0 and args.percall:
        rc = subprocess.run([sys.executable, str(HERE / "percall.py"), "--out", str(out / "percall.md")],
                            cwd="/", check=False).returncode
    return rc


if __name__ == "__main__":
    sys.exit(main())
