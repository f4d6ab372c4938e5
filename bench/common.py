"""Helpers for the benchmarks: run the real CLI, time it, report medians."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def contrail(*args: str, cwd: Path | None = None, check: bool = True) -> float:
    """Run `contrail ARGS` and return its wall time in seconds."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "contrail", *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if check and done.returncode != 0:
        raise SystemExit(f"bench: `contrail {' '.join(args)}` failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def report(name: str, rows: dict[str, list[float]], ratios: dict[str, tuple[str, str]]) -> dict[str, object]:
    """Print medians (and every sample) and ratios; keep them in bench/results/<name>.json."""
    print(f"\n== {name} ==")
    summary: dict[str, object] = {}
    for label, samples in rows.items():
        print(f"{label:<44} median {median(samples):8.2f} s   samples {', '.join(f'{s:.2f}' for s in samples)}")
        summary[label] = {"median_s": round(median(samples), 3), "samples_s": [round(s, 3) for s in samples]}
    for label, (slow, fast) in ratios.items():
        ratio = median(rows[slow]) / median(rows[fast])
        print(f"{label:<44} {ratio:8.1f} ×")
        summary[label] = round(ratio, 2)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
