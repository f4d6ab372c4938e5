"""Box factory: a cold build of every role, the same through a warm apt cache, and the no-change run.

All in the namespace `contrail-bench`, so the team's own boxes are never touched. Cold and warm both
force a Packer build of every default role with -j 2 (the machine has 2 cores); "cold" fetches from
the Debian mirror, "warm" through Contrail's apt-cacher-ng after one priming build filled it.
"""

from __future__ import annotations

import argparse
import subprocess

from bench.common import contrail, report
from contrail.boxes import aptcache

NS = ["--namespace", "contrail-bench"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs

    base = [contrail("build-boxes", "-j", "2", *NS)]  # base (debootstrap) + first build of the roles
    cold = [contrail("build-boxes", "-j", "2", "--force", *NS) for _ in range(runs)]
    was_up = subprocess.run(["docker", "inspect", aptcache.CONTAINER], capture_output=True).returncode == 0
    contrail("apt-cache", "up")
    try:
        cache = ["--apt-cache", f"http://127.0.0.1:{aptcache.PORT}"]
        contrail("build-boxes", "-j", "2", "--force", *NS, *cache)  # primes the cache
        warm = [contrail("build-boxes", "-j", "2", "--force", *NS, *cache) for _ in range(runs)]
    finally:
        if not was_up:
            contrail("apt-cache", "down")
    unchanged = [contrail("build-boxes", *NS) for _ in range(max(runs, 5))]
    report(
        "boxes",
        {
            "first build (debootstrap base + 5 roles)": base,
            "cold: 5 roles, Debian mirror (-j 2)": cold,
            "warm: 5 roles, through apt cache (-j 2)": warm,
            "no-change build-boxes": unchanged,
        },
        {
            "ratio cold / warm": ("cold: 5 roles, Debian mirror (-j 2)", "warm: 5 roles, through apt cache (-j 2)"),
            "ratio cold / no-change": ("cold: 5 roles, Debian mirror (-j 2)", "no-change build-boxes"),
        },
    )


if __name__ == "__main__":
    main()
