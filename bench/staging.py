"""Team services: `team up` until every service answers, staging refresh throughput per engine, and a
db box build through the team's warm apt cache against the same build from the Debian mirror — plus the
part of a build the cache serves, fetching packages, measured alone (a fresh base container fetches the
db role's PostgreSQL packages, from the mirror or through the warm cache).

The cache can only save the time packages take to come over the link to the mirror, and this machine's
link is faster than most teams' (the mirror answers about as fast as a cache on the same host). So the
builds are measured twice: on the link as it is, and on a link shaped to --link-mbit (HTB on Docker's
bridge: everything containers receive from outside the host, the cache's own fetches from the mirror
included, while the cache's answers to build containers stay on the bridge, unshaped).

The team has every service (staging PostgreSQL and MariaDB, scm, ci). The dump is the tests'
generated production-shaped one (customers, addresses, orders: --rows rows, a million by default, with
foreign keys and personal columns), refreshed --runs times per engine: read, filter, mask 6 columns
in transit and load into a scratch database, check, count, verify, swap. The naive alternative
measured right after each refresh (interleaved, so that the machine's drift over minutes falls on both
sides of the ratio alike): loading the same dump straight into a database with the engine's own client
(no filtering, anonymisation, checks or swap).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from bench.common import contrail, report
from contrail.boxes import aptcache
from tests import dumps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--link-mbit", type=int, default=100, help="the shaped link's rate (a common office line)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the refreshed dump")
    parser.add_argument("--only-refresh", action="store_true", help="measure team up and refreshes only")
    args = parser.parse_args()
    contrail("build-boxes", "-j", "2")
    contrail("build-boxes", "db-mariadb", "scm", "ci")
    rows: dict[str, list[float]] = {}
    ratios: dict[str, tuple[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="contrail-bench-team-") as tmp:
        root = Path(tmp)
        contrail("team", "init", "--name", f"bench-{uuid.uuid4().hex[:6]}", cwd=root)
        toml = root / "team" / "contrail-team.toml"
        toml.write_text(toml.read_text() + "".join(f'"{k}" = "{v}"\n' for k, v in dumps.RULES.items()))
        third, quarter = args.rows // 3, args.rows // 4
        data = dumps.generate(customers=third, addresses=quarter, orders=args.rows - third - quarter)
        dumps_of = {
            "postgresql": dumps.postgresql_dump(data, root / "prod.sql.gz"),
            "mysql": dumps.mysql_dump(data, root / "prod.sql"),
        }
        try:
            rows["team up (8 machines) until every service answers"] = [contrail("team", "up", cwd=root)]
            for engine, dump in dumps_of.items():
                measure_refresh(root, engine, dump, data.rows, args.runs, rows, ratios)
            if not args.only_refresh:
                measure_builds(args.runs, args.link_mbit, rows, ratios)
        finally:
            contrail("team", "destroy", cwd=root, check=False)
    summary = report("staging", rows, ratios)
    for engine in dumps_of:
        seconds = summary[f"refresh {engine} ({data.rows:,} rows)"]["median_s"]  # type: ignore[index]
        print(f"refresh throughput, {engine}: {data.rows / seconds:,.0f} rows/s")


def measure_refresh(
    root: Path,
    engine: str,
    dump: Path,
    count: int,
    runs: int,
    rows: dict[str, list[float]],
    ratios: dict[str, tuple[str, str]],
) -> None:
    """`staging refresh` of `dump` `runs` times, each phase as the refresh reports it, and the naive load
    right after each (interleaved: this machine's speed drifts over minutes, and the ratio must compare
    like with like)."""
    label = f"refresh {engine} ({count:,} rows)"
    naive = f"naive: {engine} client < dump (no filtering, anonymisation, checks)"
    rows[label], rows[naive] = [], []
    for _ in range(runs):
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "contrail", "staging", "refresh", "--from", str(dump), "--engine", engine],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
        rows[label].append(time.monotonic() - started)
        said = " ".join(done.stdout.split())
        for phase, seconds in re.findall(r"\b(load|check|mask|verify|swap) ([\d.]+) s\b", said):
            rows.setdefault(f"  {engine} phase: {phase}", []).append(float(seconds))
        rows[naive].append(raw_load(root, engine, dump))
    ratios[f"ratio refresh / naive load, {engine}"] = (label, naive)


def measure_builds(runs: int, mbit: int, rows: dict[str, list[float]], ratios: dict[str, tuple[str, str]]) -> None:
    """A db box build and its package fetch, from the mirror and through the team's warm apt cache, on the
    link as it is and shaped to `mbit`."""
    cache = ["--apt-cache", "http://127.0.0.1:3143"]  # the team's, as `team up` printed it
    # db: the role with the most to download (PostgreSQL 15 and its dependencies, ~73 MB)
    rows["db box build, Debian mirror"] = [contrail("build-boxes", "db", "--force") for _ in range(runs)]
    contrail("build-boxes", "db", "--force", *cache)  # fills the team's cache
    warm = "db box build, through the team's warm apt cache"
    rows[warm] = [contrail("build-boxes", "db", "--force", *cache) for _ in range(runs)]
    through_cache = aptcache.resolve("http://127.0.0.1:3143").build_url
    fetch_packages(through_cache)  # warms the cache with these packages
    rows["fetch the db role's packages, Debian mirror"] = [fetch_packages("") for _ in range(runs)]
    rows["fetch the db role's packages, warm team apt cache"] = [fetch_packages(through_cache) for _ in range(runs)]
    shaped = f"{mbit} Mbit/s link"
    with shaped_link(mbit):
        rows[f"db box build, Debian mirror, {shaped}"] = [contrail("build-boxes", "db", "--force") for _ in range(runs)]
        rows[f"db box build, warm team apt cache, {shaped}"] = [
            contrail("build-boxes", "db", "--force", *cache) for _ in range(runs)
        ]
        rows[f"fetch the db role's packages, Debian mirror, {shaped}"] = [fetch_packages("") for _ in range(runs)]
        rows[f"fetch the db role's packages, warm team apt cache, {shaped}"] = [
            fetch_packages(through_cache) for _ in range(runs)
        ]
    ratios["ratio cold / warm team apt cache"] = ("db box build, Debian mirror", warm)
    ratios["ratio fetching packages, mirror / warm team apt cache"] = (
        "fetch the db role's packages, Debian mirror",
        "fetch the db role's packages, warm team apt cache",
    )
    ratios[f"ratio cold / warm team apt cache, {shaped}"] = (
        f"db box build, Debian mirror, {shaped}",
        f"db box build, warm team apt cache, {shaped}",
    )
    ratios[f"ratio fetching packages, mirror / warm team apt cache, {shaped}"] = (
        f"fetch the db role's packages, Debian mirror, {shaped}",
        f"fetch the db role's packages, warm team apt cache, {shaped}",
    )


def fetch_packages(proxy: str) -> float:
    """Seconds for a fresh base container to fetch (not install) the db role's packages: `apt-get update`
    and a download-only install of PostgreSQL 15, through `proxy` when given."""
    fetch = "apt-get update -qq && apt-get install -qq -y --download-only postgresql-15 >/dev/null"
    if proxy:
        fetch = f"echo 'Acquire::http::Proxy \"{proxy}\";' > /etc/apt/apt.conf.d/00proxy && {fetch}"
    started = time.monotonic()
    base = "contrail/base:latest"  # what every role's build starts from
    subprocess.run(["docker", "run", "--rm", base, "sh", "-c", fetch], check=True, capture_output=True)
    return time.monotonic() - started


@contextlib.contextmanager
def shaped_link(mbit: int, bridge: str = "docker0") -> Iterator[None]:
    """Everything Docker's bridge hands to containers from outside it limited to `mbit` (one HTB class:
    the kernel here has no netem/tbf). Container-to-container traffic is bridged and not shaped."""
    unshape = ["tc", "qdisc", "del", "dev", bridge, "root"]
    subprocess.run(unshape, capture_output=True)  # a shaping left by an interrupted run
    for command in (
        f"tc qdisc add dev {bridge} root handle 1: htb default 1",
        f"tc class add dev {bridge} parent 1: classid 1:1 htb rate {mbit}mbit quantum 60000",
    ):
        subprocess.run(command.split(), check=True)
    try:
        yield
    finally:
        subprocess.run(unshape, check=True)


def raw_load(root: Path, engine: str, dump: Path) -> float:
    """The same dump piped into a fresh database by the engine's client over ssh: the floor."""
    config = root / "team" / ".contrail" / "ssh_config"
    node = "staging-postgresql" if engine == "postgresql" else "staging-mysql"
    if engine == "postgresql":
        command = (
            "sudo -u postgres dropdb --if-exists naive && sudo -u postgres createdb naive && "
            "gunzip | sudo -u postgres psql -q -X -v ON_ERROR_STOP=1 -d naive >/dev/null"
        )
    else:
        command = "sudo mariadb -e 'DROP DATABASE IF EXISTS naive; CREATE DATABASE naive' && sudo mariadb naive"
    started = time.monotonic()
    with dump.open("rb") as data:
        subprocess.run(["ssh", "-F", str(config), node, command], stdin=data, check=True, capture_output=True)
    return time.monotonic() - started


if __name__ == "__main__":
    main()
