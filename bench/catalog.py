"""Teammate path: boxes from the team catalog vs building them, each from an empty machine cache.

Everything runs in the namespace `contrail-catbench` (its own debootstrap base, so no layer is shared
with the team's `contrail/*` boxes) and the example Django app's default topology (1 proxy, 2 web,
3 app, 1 db).

- build path: what a teammate without a catalog does: `build-boxes` (debootstrap base + proxy, web,
  app, db, -j 2) then `startdev` + `up`. One run (it is the slow side; more runs only cost minutes).
- catalog path: every image of the namespace removed and a fresh VAGRANT_HOME (no box, no layer on
  the machine); getting the boxes (`vagrant box add` of each, which checks its sha256, and `docker pull`
  of the images they pin by digest, from the catalog's registry on loopback), then `startdev --catalog`
  + `up`. Timed apart, so that getting the boxes compares with building them. Median of --runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import contrail, report

NS = "contrail-catbench"
ROLES = ["proxy", "web", "app", "db", "cache"]
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def remove_namespace_images() -> None:
    """Every image of the namespace (boxes, base) and every image pulled for it from a registry."""
    ids = subprocess.run(
        ["docker", "image", "ls", "-q", "--filter", f"label=org.contrail.namespace={NS}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "image", "rm", "--force", *sorted(set(ids))], capture_output=True)


def environment(work: Path, name: str, catalog: str | None) -> tuple[Path, list[str]]:
    project = work / name
    shutil.copytree(REPO / "examples" / "django-app", project)
    args = ["startdev", "--name", name, "--port", str(free_port()), "--stats-port", str(free_port())]
    return project, [*args, "--catalog", catalog] if catalog else args


def fetch_boxes(work: Path, name: str, url: str, credentials: str) -> float:
    """Wall time of what `up` gets from the catalog: each box (sha256 checked), then its image (the
    registry wants the catalog's credentials)."""
    os.environ["VAGRANT_HOME"] = str(work / f"vagrant.d-{name}")
    listing = subprocess.run(
        [sys.executable, "-m", "contrail", "catalog", "list", "--catalog", url, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    images = {}
    for row in json.loads(listing.stdout):
        images.setdefault(row["box"], row["image"])  # newest first
    started = time.monotonic()
    for role in ROLES:
        add = ["vagrant", "box", "add", "--provider", "docker", f"{url}/{NS}/{role}/metadata.json"]
        subprocess.run(add, check=True, capture_output=True)
    user, _, password = credentials.partition(":")
    registry = url.split("//", 1)[1]
    login = ["docker", "login", registry, "--username", user, "--password-stdin"]
    subprocess.run(login, input=password, text=True, check=True, capture_output=True)
    with ThreadPoolExecutor(len(ROLES)) as pool:
        pulls = [
            pool.submit(subprocess.run, ["docker", "pull", images[f"{NS}/{role}"]], check=True, capture_output=True)
            for role in ROLES
        ]
        for pull in pulls:
            pull.result()
    elapsed = time.monotonic() - started
    subprocess.run(["docker", "logout", registry], capture_output=True)
    return elapsed


def startdev_up(work: Path, name: str, catalog: str | None) -> float:
    """Wall time of `startdev` + `up`, then the environment is destroyed (not timed)."""
    os.environ["VAGRANT_HOME"] = str(work / f"vagrant.d-{name}")
    project, startdev = environment(work, name, catalog)
    try:
        return contrail(*startdev, cwd=project) + contrail("up", cwd=project)
    finally:
        contrail("destroy", cwd=project, check=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    os.environ["CONTRAIL_NAMESPACE"] = NS
    with tempfile.TemporaryDirectory(prefix="contrail-bench-catalog-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # `catalog serve` as root runs its servers as a user that must reach the directory
        remove_namespace_images()
        build = contrail("build-boxes", "-j", "2", *ROLES, cwd=work)
        build_up = startdev_up(work, "catbench-built", None)

        root, port = work / "catalog", free_port()
        contrail("catalog", "serve", "--dir", str(root), "--port", str(port), cwd=work)
        try:
            public = f"http://127.0.0.1:{port}"
            credentials = (root / "run" / "credentials").read_text().strip()
            url = f"http://{credentials}@127.0.0.1:{port}"
            publish = contrail("publish", "--catalog", url, *ROLES, cwd=work)
            fetch, teammate = [], []
            for run in range(runs):
                remove_namespace_images()
                fetch.append(fetch_boxes(work, f"catbench-mate{run}", public, credentials))
                teammate.append(startdev_up(work, f"catbench-mate{run}", url))
        finally:
            contrail("catalog", "serve", "--dir", str(root), "--stop", cwd=work, check=False)
            remove_namespace_images()
    report(
        "catalog",
        {
            "build path: build-boxes (base + 5 roles, -j 2)": [build],
            "build path: startdev + up (local boxes)": [build_up],
            "build path: total": [build + build_up],
            "publish 5 roles (once per team)": [publish],
            "catalog path: get the boxes (box add + pull)": fetch,
            "catalog path: startdev --catalog + up": teammate,
            "catalog path: total": [f + u for f, u in zip(fetch, teammate, strict=True)],
        },
        {
            "ratio build-boxes / get the boxes": (
                "build path: build-boxes (base + 5 roles, -j 2)",
                "catalog path: get the boxes (box add + pull)",
            ),
            "ratio build path / catalog path (totals)": ("build path: total", "catalog path: total"),
        },
    )


if __name__ == "__main__":
    main()
