"""VMs against containers, in one run: the same roles built as libvirt boxes and as docker boxes, the same
4-node topology (proxy, web, app, db) brought up as VMs and as containers, and the same change pushed to
each.

Why: the libvirt provider exists for teams whose production runs VMs; what it costs against the
containers the demo uses is the question a team asks first. On a machine without a usable KVM (this
one's /dev/kvm is paravirtual) the VMs run under TCG, software emulation, and the figures say how much
that costs.
- box builds: `contrail build-boxes --provider P --force ROLE` one role at a time, in a namespace of
  the benchmark's own (removed at the end), the base built first and not counted; each role's time is
  what the build reports for it.
- up: `contrail up` of proxy, 1 web, 1 app and the database from built boxes (`startdev --web 1 --app 1
  --cache 0`), to healthy; the boxes are installed in Vagrant (and, for VMs, in libvirt's pool) before.
- push: a one-line template change, `fab push --all-at-once`, until the app server serves it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import contrail, report
from bench.push import FAB, free_port, served_everywhere, sh
from contrail import config
from contrail.boxes.vmstore import boxes_dir

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("VAGRANT_CHECKPOINT_DISABLE", "1")
NAMESPACE = "contrail-bench-vms"
ROLES = ("proxy", "web", "app", "db")
PROVIDERS = ("docker", "libvirt")
TEMPLATE = Path("visits/templates/visits/index.html")
BUILT = re.compile(r"✓ (\S+): built \S+ \(.*\) \((\d+\.\d+) s\)")


def build_times(provider: str) -> dict[str, float]:
    """Each role's build time as `build-boxes` reports it (the base first, not counted)."""
    base = [sys.executable, "-m", "contrail", "build-boxes", "--provider", provider, "--namespace", NAMESPACE]
    times: dict[str, float] = {}
    for role in ROLES:
        done = subprocess.run([*base, "--force", role], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"bench: the {provider} {role} box failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        found = dict(BUILT.findall(done.stdout))
        if role not in found:
            raise SystemExit(f"bench: `build-boxes` printed no time for {role}:\n{done.stdout[-2000:]}")
        times[role] = float(found[role])
    return times


def environment(directory: Path, provider: str) -> Path:
    project = directory / provider / "shop"
    shutil.copytree(REPO / "examples" / "django-app", project)
    ports = ("--port", str(free_port()), "--stats-port", str(free_port()))
    nodes = ("--web", "1", "--app", "1", "--cache", "0")
    name = f"bench-{provider}"
    contrail("startdev", "--provider", provider, "--name", name, *ports, *nodes, cwd=project)
    return project


def push(project: Path, marker: str) -> float:
    heading = f"<h1>Hello from Contrail, {marker}</h1>"
    template = project / TEMPLATE
    template.write_text(re.sub(r"<h1>[^<]*</h1>", heading, template.read_text()))
    started = time.monotonic()
    sh(FAB, "push", "--all-at-once", cwd=project)
    served_everywhere(config.load(project / "contrail.toml"), heading)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pushes", type=int, default=5, help="pushes to each topology (median of these)")
    args = parser.parse_args()
    rows: dict[str, list[float]] = {}
    ratios: dict[str, tuple[str, str]] = {}
    try:
        for provider in PROVIDERS:
            for role, seconds in build_times(provider).items():
                rows[f"{role} box build: {provider}"] = [seconds]
        for role in ROLES:
            ratios[f"{role} box build: libvirt / docker"] = (f"{role} box build: libvirt", f"{role} box build: docker")
    finally:
        shutil.rmtree(boxes_dir(NAMESPACE, "libvirt"), ignore_errors=True)
        images = subprocess.run(
            ["docker", "images", "-q", "--filter", f"label=org.contrail.namespace={NAMESPACE}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        if images:
            subprocess.run(["docker", "rmi", "-f", *set(images)], capture_output=True)
    for provider in PROVIDERS:  # the boxes both topologies run, built once (or found up to date)
        contrail("build-boxes", "--provider", provider, *ROLES)
    with tempfile.TemporaryDirectory(prefix="contrail-bench-vms-") as tmp:
        projects = {provider: environment(Path(tmp), provider) for provider in PROVIDERS}
        try:
            for provider, project in projects.items():
                rows[f"up, 4 nodes: {provider}"] = [contrail("up", cwd=project)]
                push(project, "first")  # the app's requirements installed: not what is compared
                rows[f"fab push --all-at-once: {provider}"] = [push(project, f"run{i}") for i in range(args.pushes)]
        finally:
            for project in projects.values():
                contrail("destroy", cwd=project, check=False)
    ratios["up, 4 nodes: libvirt / docker"] = ("up, 4 nodes: libvirt", "up, 4 nodes: docker")
    ratios["fab push: libvirt / docker"] = ("fab push --all-at-once: libvirt", "fab push --all-at-once: docker")
    report("vms", rows, ratios)


if __name__ == "__main__":
    main()
