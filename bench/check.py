"""`contrail check` on 3 app servers, without a flow (target: ≤ 10 s), against the naive way of asking
the same questions, in one run on one environment (the Django example, default topology).

- contrail check: the command as a user runs it (Python start-up included); its probes run inside a
  serving worker of each app server, reached over the environment's ssh control masters.
- naive: the same probes (the app box's own contrail_probe.py: write on each server, read through
  the next, clean up, settings), each in a fresh `python` that sets Django up, over ssh — what a
  script run with `manage.py shell` on each server would do.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import contrail, report
from bench.push import FAB, example_project
from contrail import config, topology

PROBE = (
    "import json, sys; sys.path.insert(0, '/srv/app/lib'); import django; django.setup(); "
    "import contrail_probe; print(json.dumps(contrail_probe.run(sys.argv[1], json.loads(sys.argv[2]))))"
)


def check_once(project: Path) -> float:
    """`contrail check` (it exits 1 on the example's local-memory cache: a finding, not an error)."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "contrail", "check", "--json"], cwd=project, capture_output=True)
    elapsed = time.monotonic() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"bench: contrail check failed: {done.stderr.decode()}")
    return elapsed


def naive_once(project: Path, apps: list[str]) -> float:
    started = time.monotonic()
    ssh_config = str(project / ".contrail" / "ssh_config")

    def probe(node: str, operation: str, params: dict[str, str]) -> dict:
        command = (
            "cd /srv/app/current && set -a && . /etc/contrail/app.env && set +a && "
            f"venv/bin/python -c {shlex.quote(PROBE)} {operation} {shlex.quote(json.dumps(params))}"
        )
        done = subprocess.run(["ssh", "-F", ssh_config, node, command], capture_output=True, text=True, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    written = {node: probe(node, "write", {"value": f"naive-{node}"}) for node in apps}
    for index, node in enumerate(apps):
        reader = apps[(index + 1) % len(apps)]
        keys = {
            "value": f"naive-{node}",
            "session": written[node]["session"]["key"] or "",
            "storage": written[node]["storage"]["key"] or "",
        }
        probe(reader, "read", keys)
        probe(node, "clean", keys)
        probe(node, "settings", {"value": "naive"})
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="contrail-bench-") as tmp:
        project = example_project(Path(tmp), "bench-check")
        apps = [n.name for n in topology.by_role(config.load(project / "contrail.toml"), "app")]
        try:
            contrail("up", cwd=project)
            subprocess.run([FAB, "push"], cwd=project, check=True, capture_output=True)
            checks = [check_once(project) for _ in range(args.runs)]
            naive = [naive_once(project, apps) for _ in range(args.runs)]
        finally:
            contrail("destroy", cwd=project, check=False)
    report(
        "check",
        {
            "contrail check, 3 app servers, no flow": checks,
            "naive: the same probes, a fresh python each": naive,
        },
        {
            "contrail check vs naive": (
                "naive: the same probes, a fresh python each",
                "contrail check, 3 app servers, no flow",
            )
        },
    )


if __name__ == "__main__":
    main()
