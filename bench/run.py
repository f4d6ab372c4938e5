"""`make bench`: every benchmark, or the ones named (python bench/run.py boxes)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BENCHMARKS = ["boxes", "push", "tomcat", "check", "catalog", "staging", "vms"]


def main() -> None:
    names = sys.argv[1:] or BENCHMARKS
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        sys.argv = [name]
        module.main()


if __name__ == "__main__":
    main()
