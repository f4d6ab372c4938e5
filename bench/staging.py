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
generated production-shaped one (customers, addresses, orders: 12,000 rows with foreign keys and
personal columns), refreshed --runs times per engine: load into a scratch database, anonymise 6
columns, count, swap. The naive alternative measured beside it: loading the same dump straight into
a database with the engine's own client (no anonymisation, no checks, no swap).
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from bench.common import contrail, report
from contrail import aptcache
from tests import dumps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--link-mbit", type=int, default=100, help="the shaped link's rate (a common office line)")
    args = parser.parse_args()
    runs, mbit = args.runs, args.link_mbit
    contrail("build-boxes", "-j", "2")
    contrail("build-boxes", "db-mariadb", "scm", "ci")
    with tempfile.TemporaryDirectory(prefix="contrail-bench-team-") as tmp:
        root = Path(tmp)
        contrail("team", "init", "--name", f"bench-{uuid.uuid4().hex[:6]}", cwd=root)
        toml = root / "team" / "contrail-team.toml"
        toml.write_text(toml.read_text() + "".join(f'"{k}" = "{v}"\n' for k, v in dumps.RULES.items()))
        data = dumps.generate()
        pg = dumps.postgresql_dump(data, root / "prod.sql.gz")
        my = dumps.mysql_dump(data, root / "prod.sql")
        try:
            up = [contrail("team", "up", cwd=root)]
            dumps_of = {"postgresql": pg, "mysql": my}
            refresh = {engine: [] for engine in dumps_of}
            for engine, dump in dumps_of.items():
                args = ("staging", "refresh", "--from", str(dump), "--engine", engine)
                refresh[engine] += [contrail(*args, cwd=root) for _ in range(runs)]
            naive = {engine: [raw_load(root, engine, dump) for _ in range(runs)] for engine, dump in dumps_of.items()}
            cache = ["--apt-cache", "http://127.0.0.1:3143"]  # the team's, as `team up` printed it
            # db: the role with the most to download (PostgreSQL 15 and its dependencies, ~73 MB)
            cold = [contrail("build-boxes", "db", "--force") for _ in range(runs)]
            contrail("build-boxes", "db", "--force", *cache)  # fills the team's cache
            warm = [contrail("build-boxes", "db", "--force", *cache) for _ in range(runs)]
            through_cache = aptcache.resolve("http://127.0.0.1:3143").build_url
            fetch_packages(through_cache)  # warms the cache with these packages
            fetched = {proxy: [fetch_packages(proxy) for _ in range(runs)] for proxy in ("", through_cache)}
            with shaped_link(mbit):
                shaped_cold = [contrail("build-boxes", "db", "--force") for _ in range(runs)]
                shaped_warm = [contrail("build-boxes", "db", "--force", *cache) for _ in range(runs)]
                shaped_fetch = {proxy: [fetch_packages(proxy) for _ in range(runs)] for proxy in ("", through_cache)}
        finally:
            contrail("team", "destroy", cwd=root, check=False)
    rows = data.rows
    summary = report(
        "staging",
        {
            "team up (8 machines) until every service answers": up,
            "refresh postgresql (12,000 rows)": refresh["postgresql"],
            "refresh mysql (12,000 rows)": refresh["mysql"],
            "naive: psql < dump (no anonymisation)": naive["postgresql"],
            "naive: mariadb < dump (no anonymisation)": naive["mysql"],
            "db box build, Debian mirror": cold,
            "db box build, through the team's warm apt cache": warm,
            "fetch the db role's packages, Debian mirror": fetched[""],
            "fetch the db role's packages, warm team apt cache": fetched[through_cache],
            f"db box build, Debian mirror, {mbit} Mbit/s link": shaped_cold,
            f"db box build, warm team apt cache, {mbit} Mbit/s link": shaped_warm,
            f"fetch the db role's packages, Debian mirror, {mbit} Mbit/s link": shaped_fetch[""],
            f"fetch the db role's packages, warm team apt cache, {mbit} Mbit/s link": shaped_fetch[through_cache],
        },
        {
            "ratio cold / warm team apt cache": (
                "db box build, Debian mirror",
                "db box build, through the team's warm apt cache",
            ),
            "ratio fetching packages, mirror / warm team apt cache": (
                "fetch the db role's packages, Debian mirror",
                "fetch the db role's packages, warm team apt cache",
            ),
            f"ratio cold / warm team apt cache, {mbit} Mbit/s link": (
                f"db box build, Debian mirror, {mbit} Mbit/s link",
                f"db box build, warm team apt cache, {mbit} Mbit/s link",
            ),
            f"ratio fetching packages, mirror / warm team apt cache, {mbit} Mbit/s link": (
                f"fetch the db role's packages, Debian mirror, {mbit} Mbit/s link",
                f"fetch the db role's packages, warm team apt cache, {mbit} Mbit/s link",
            ),
            "ratio refresh / naive load, postgresql": (
                "refresh postgresql (12,000 rows)",
                "naive: psql < dump (no anonymisation)",
            ),
            "ratio refresh / naive load, mysql": (
                "refresh mysql (12,000 rows)",
                "naive: mariadb < dump (no anonymisation)",
            ),
        },
    )
    for engine in ("postgresql", "mysql"):
        seconds = summary[f"refresh {engine} (12,000 rows)"]["median_s"]  # type: ignore[index]
        print(f"refresh throughput, {engine}: {rows / seconds:,.0f} rows/s")


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
