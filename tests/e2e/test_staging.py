"""The team's staging databases on real PostgreSQL 15 and MariaDB boxes: refresh from a generated
production-shaped dump (anonymised, counted, swapped atomically), kill a refresh, refuse unmasked or
misnamed columns and broken dumps, roll back."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from contrail import config
from contrail import team as teams
from contrail.tools import docker
from tests import dumps
from tests.conftest import REPO, Result, contrail, one_line_error
from tests.e2e.running import FAB, leftovers, ssh
from tests.integration.test_startdev import free_port

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Team:
    root: Path  # where `contrail team init` ran; the team is in root/team
    name: str

    @property
    def dir(self) -> Path:
        return self.root / "team"

    def contrail(self, *args: str) -> Result:
        return contrail(*args, cwd=self.root)

    def ssh(self, node: str, command: str) -> str:
        return ssh(self.dir, node, command)

    def psql(self, query: str, database: str = "app") -> str:
        return self.ssh("staging-postgresql", f"sudo -u postgres psql -X -At -d {database} -c {_quote(query)}")

    def mariadb(self, query: str, database: str = "app") -> str:
        return self.ssh("staging-mysql", f"sudo mariadb -N -B {database} -e {_quote(query)}")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.fixture(scope="module")
def mariadb_box(built_boxes: Path) -> Path:
    """The boxes a team has beyond the topology's: db-mariadb, scm, ci (none is built by default)."""
    result = contrail("build-boxes", "db-mariadb", "scm", "ci", cwd=built_boxes)
    assert result.status == 0, result.stderr
    return built_boxes


@pytest.fixture(scope="module")
def team(mariadb_box: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    root = tmp_path_factory.mktemp("team")
    crew = Team(root, f"crew-{uuid.uuid4().hex[:6]}")
    init = crew.contrail("team", "init", "--name", crew.name)
    assert init.status == 0, init.stderr
    toml = crew.dir / "contrail-team.toml"
    text = toml.read_text().replace("port = 3143", f"port = {free_port()}")
    toml.write_text(text + "".join(f'"{k}" = "{v}"\n' for k, v in dumps.RULES.items()))
    try:
        up = crew.contrail("team", "up")
        assert up.status == 0, up.stdout + up.stderr
        yield crew
    finally:
        if leftovers(crew.name):
            crew.contrail("team", "destroy")


@pytest.fixture(scope="module")
def data() -> dumps.Data:
    return dumps.generate(seed=1)


def test_the_team_secrets_are_generated_and_private(team):
    secrets = team.dir / ".contrail" / "secrets.toml"
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert "anonymise_salt" in secrets.read_text() and "staging_postgresql_password" in secrets.read_text()


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_refresh_anonymises_keeps_joins_and_counts(team, data, tmp_path, engine, figures):
    dump = (
        dumps.postgresql_dump(data, tmp_path / "prod.sql.gz")
        if engine == "postgresql"
        else dumps.mysql_dump(data, tmp_path / "prod.sql")
    )
    started = time.monotonic()
    done = team.contrail("staging", "refresh", "--from", str(dump), "--engine", engine)
    assert done.status == 0, done.stdout + done.stderr
    figures.append(f"staging refresh ({engine}): {data.rows} rows in {time.monotonic() - started:.1f} s")
    query = team.psql if engine == "postgresql" else team.mariadb
    counts = [int(query(f"SELECT count(*) FROM {t}")) for t in ("customers", "addresses", "orders")]
    assert counts == [len(data.customers), len(data.addresses), len(data.orders)]
    joined = "SELECT count(*) FROM orders o JOIN customers c ON o.customer_email = c.email AND o.customer_id = c.id"
    assert int(query(joined)) == len(data.orders)  # the same email became the same fake in both tables
    assert int(query("SELECT count(*) FROM addresses WHERE postcode IS NOT NULL")) == 0
    assert query("SELECT DISTINCT city FROM addresses ORDER BY city").split() == sorted(dumps.CITIES)
    everything = (
        team.ssh("staging-postgresql", "sudo -u postgres pg_dump app")
        if engine == "postgresql"
        else team.ssh("staging-mysql", "sudo mariadb-dump app")
    )
    left = [value for value in data.personal() if value in everything]
    assert left == [], f"{len(left)} original values left, e.g. {left[:3]}"


DUMP_FC = "sudo -u postgres pg_dump -Fc app"


def test_a_custom_format_dump_refreshes_too(team, tmp_path):
    """pg_dump -Fc (here of staging itself, already anonymised: the rules find nothing left to change)."""
    before = team.psql("SELECT count(*), min(email) FROM customers")
    custom = tmp_path / "custom.dump"
    done = subprocess.run(
        [
            "ssh",
            "-F",
            str(team.dir / ".contrail" / "ssh_config"),
            "staging-postgresql",
            "sudo -u postgres pg_dump -Fc app",
        ],
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    custom.write_bytes(done.stdout)
    refreshed = team.contrail("staging", "refresh", "--from", str(custom))
    assert refreshed.status == 0, refreshed.stdout + refreshed.stderr
    count, first = team.psql("SELECT count(*), min(email) FROM customers").strip().split("|")
    assert count == before.strip().split("|")[0] and first.endswith("@example.com")
    one_line_error(
        team.contrail("staging", "refresh", "--from", str(custom), "--engine", "oracle"),
        r"Invalid value for '--engine'",
    )


# What the loader's session is doing at each point a refresh is killed (pg_stat_activity.query). COPY
# rows are masked on their way in (while loading); rows the dump writes as INSERTs (pg_dump --inserts) are
# masked in the scratch database.
KILL_POINTS = {
    "loading, masked on the way": "COPY % FROM stdin%",
    "masking in the database": "%contrail_map%",
    "verifying, just before the swap": "COPY (SELECT %) TO STDOUT%",
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_refresh_killed_at_any_point_leaves_served_data_and_no_readable_scratch_data(team, tmp_path, point):
    before = team.psql("SELECT count(*), min(email), max(email) FROM customers")
    # Large enough (120,000 rows) that every phase lasts long enough to be caught.
    bigger = dumps.generate(customers=40_000, addresses=30_000, orders=50_000, seed=2)
    dump = dumps.postgresql_dump(bigger, tmp_path / "next.sql.gz", inserts=point == "masking in the database")
    busy = (
        f"SELECT count(*) FROM pg_stat_activity WHERE usename = 'contrail_loader' AND query LIKE '{KILL_POINTS[point]}'"
    )
    # Watched on the node itself (a psql every few ms), so even the shortest phase is caught.
    watch = f'until [ "$(cd / && sudo -u postgres psql -X -At -d postgres -c {_quote(busy)})" != 0 ]; do :; done'
    watcher = subprocess.Popen(["ssh", "-F", str(team.dir / ".contrail" / "ssh_config"), "staging-postgresql", watch])
    refresh = subprocess.Popen(
        [sys.executable, "-m", "contrail", "staging", "refresh", "--from", str(dump)],
        cwd=team.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    try:
        while watcher.poll() is None:
            assert refresh.poll() is None, f"the refresh ended before it was seen {point}"
            assert time.monotonic() < deadline, f"the refresh was never seen {point}"
            time.sleep(0.005)
    finally:
        watcher.kill()
    os.killpg(refresh.pid, signal.SIGKILL)
    refresh.wait()
    assert team.psql("SELECT count(*), min(email), max(email) FROM customers") == before
    # The scratch data is there, readable by the loader's role alone: not the app's, not by PUBLIC.
    assert team.psql("SELECT has_database_privilege('app', 'app__incoming', 'CONNECT')", "postgres").strip() == "f"
    owner = "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
    assert team.psql(owner, "app__incoming").split() == ["contrail_loader"]
    leftover = "find / -xdev \\( -name 'contrail-dump*' -o -name 'contrail-pull*' \\) -print 2>/dev/null; true"
    assert team.ssh("staging-postgresql", leftover).strip() == ""  # no dump is ever written on the node


def test_unmasked_personal_columns_stop_the_refresh(team, data, tmp_path):
    dump = dumps.postgresql_dump(data, tmp_path / "more.sql.gz", extra_column="mobile")
    before = team.psql("SELECT email FROM customers ORDER BY id LIMIT 1")
    one_line_error(
        team.contrail("staging", "refresh", "--from", str(dump)),
        r"columns that look personal have no anonymise rule: customers\.mobile — add rules",
    )
    assert team.psql("SELECT email FROM customers ORDER BY id LIMIT 1") == before
    # Let through on purpose: recorded with the data (`staging pull` says so, below).
    allowed = team.contrail("staging", "refresh", "--from", str(dump), "--allow-unmasked")
    assert allowed.status == 0, allowed.stderr
    assert "Let through unmasked (--allow-unmasked), recorded with the data: customers.mobile" in allowed.stdout


def test_a_rule_for_a_missing_column_and_a_broken_dump_are_one_line(team, data, tmp_path):
    toml = team.dir / "contrail-team.toml"
    original = toml.read_text()
    toml.write_text(original + '"customers.emial" = "email"\n')
    try:
        one_line_error(
            team.contrail("staging", "refresh", "--from", str(dumps.postgresql_dump(data, tmp_path / "d.sql.gz"))),
            r"contrail-team\.toml:\d+: anonymise rule for customers\.emial: no such column",
        )
    finally:
        toml.write_text(original)
    broken = tmp_path / "broken.sql"
    broken.write_text("CREATE TABLE t (id integer);\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2;\n")
    one_line_error(team.contrail("staging", "refresh", "--from", str(broken)), r"broken\.sql:3: syntax error")
    one_line_error(
        team.contrail("staging", "refresh", "--from", str(broken), "--engine", "mysql"), r"broken\.sql:3: .*syntax"
    )
    one_line_error(team.contrail("staging", "refresh", "--from", str(tmp_path / "nope.sql")), "does not exist")


@pytest.fixture
def devenv(built_boxes: Path, team: Team, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A developer's small environment (1 web, 1 app; the Django example) whose database node (engine: the
    test's parameter) receives the staging data, and whose machines fetch packages through the team's apt
    cache."""
    project = tmp_path / "shop"
    shutil.copytree(REPO / "examples" / "django-app", project, ignore=shutil.ignore_patterns("__pycache__"))
    name = f"puller-{uuid.uuid4().hex[:6]}"
    args = ["--name", name, "--web", "1", "--app", "1", "--db", request.param]
    args += ["--port", str(free_port()), "--stats-port", str(free_port())]
    assert contrail("startdev", *args, cwd=project).status == 0
    toml = project / "contrail.toml"
    url = teams.apt_cache_url(teams.load(team.dir / "contrail-team.toml"))
    toml.write_text(toml.read_text().replace('apt_cache = ""', f'apt_cache = "{url}"'))
    rendered = contrail("startdev", cwd=project)
    assert rendered.status == 0, rendered.stderr
    try:
        up = contrail("up", cwd=project)
        assert up.status == 0, up.stdout + up.stderr
        yield project
    finally:
        if leftovers(name):
            contrail("destroy", cwd=project)


@pytest.mark.parametrize("devenv", ["postgresql", "mysql"], indirect=True)
def test_pull_copies_the_anonymised_staging_data_into_a_dev_env_that_serves_on_it(team, data, devenv):
    cfg = config.load(devenv / "contrail.toml")
    engine = cfg.db_engine
    database = "PostgreSQL" if engine == "postgresql" else "MariaDB"

    def push_and_get() -> str:
        pushed = subprocess.run([FAB, "push"], cwd=devenv, capture_output=True, text=True, timeout=600)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{cfg.host_port}/", timeout=10) as response:
            return response.read().decode()

    assert f"visits recorded in {database}" in push_and_get()  # migrated: the app's tables exist
    query = team.psql if engine == "postgresql" else team.mariadb
    staged = query("SELECT count(*) FROM customers").strip()
    pulled = contrail("staging", "pull", "--team", str(team.root), cwd=devenv)
    assert pulled.status == 0, pulled.stdout + pulled.stderr
    assert "The next `fab push` migrates it." in pulled.stdout
    unmasked = "Unmasked in it (let through by --allow-unmasked at refresh): customers.mobile"
    assert (unmasked in pulled.stdout) == (engine == "postgresql")

    def dev(command: str) -> str:
        done = subprocess.run(
            ["ssh", "-F", str(devenv / ".contrail" / "ssh_config"), "database", command], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    if engine == "postgresql":
        sql, dump = "sudo -u postgres psql -X -At -d app -c", "sudo -u postgres pg_dump app"
    else:
        sql, dump = "sudo mariadb -N -B app -e", "sudo mariadb-dump app"
    assert dev(f"{sql} 'SELECT count(*) FROM customers'").strip() == staged
    assert "Acquire::http::Proxy" in dev("cat /etc/apt/apt.conf.d/00contrail-proxy")
    dev("sudo apt-get update -q")  # through the team's apt cache
    everything = dev(dump)
    assert "@example.com" in everything
    assert not [value for value in data.personal() if value in everything]
    # The pulled data has staging's tables only; the same code pushed again migrates it and serves on it.
    assert f"visits recorded in {database}" in push_and_get()
    assert dev(f"{sql} 'SELECT count(*) FROM customers'").strip() == staged  # migrate added, kept the rest


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_rollback_brings_the_previous_data_back(team, tmp_path, engine):
    query = team.psql if engine == "postgresql" else team.mariadb
    first = query("SELECT count(*) FROM customers")
    small = dumps.generate(customers=50, addresses=20, orders=30, seed=3)
    dump = (
        dumps.postgresql_dump(small, tmp_path / "small.sql.gz")
        if engine == "postgresql"
        else dumps.mysql_dump(small, tmp_path / "small.sql")
    )
    assert team.contrail("staging", "refresh", "--from", str(dump), "--engine", engine).status == 0
    assert query("SELECT count(*) FROM customers").strip() == "50"
    back = team.contrail("staging", "rollback", "--engine", engine)
    assert back.status == 0, back.stderr
    assert query("SELECT count(*) FROM customers") == first


# --- Dumps as the engines' own tools write them, and dumps that try to reach beyond their database -----

LATIN1_BUYERS = ["Zoë Müller", "Søren Ærø", "François Lefèvre"]
SOURCE_SQL = {
    # What production has beyond the generated tables: another schema, names that need quoting (spaces, `|`,
    # quotes), a JSON document holding an email, a materialized view of emails, views on views, a routine,
    # an audit trigger that masking must not fire, and names in a latin1 table.
    "postgresql": (
        'CREATE SCHEMA crm; CREATE TABLE crm."Leads | ""x""" (id int PRIMARY KEY, contact jsonb);\n'
        'INSERT INTO crm."Leads | ""x""" SELECT id, jsonb_build_object(\'mail\', email) FROM customers;\n'
        "CREATE MATERIALIZED VIEW recent AS SELECT id, email FROM customers WHERE id <= 50;\n"
        "CREATE TABLE audit (id serial PRIMARY KEY, note text);\n"
        "CREATE FUNCTION log_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO audit (note) VALUES ('changed ' || NEW.id); RETURN NEW; END $$;\n"
        "CREATE TRIGGER customers_audit AFTER UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION log_change();\n"
    ),
    "mysql": (
        "CREATE TABLE audit (id int AUTO_INCREMENT PRIMARY KEY, note text);\n"
        "CREATE TRIGGER customers_audit AFTER UPDATE ON customers FOR EACH ROW "
        "INSERT INTO audit (note) VALUES (CONCAT('changed ', NEW.id));\n"
        "CREATE VIEW customer_emails AS SELECT id, email FROM customers;\n"
        "CREATE VIEW first_emails AS SELECT email FROM customer_emails WHERE id < 10;\n"
        "CREATE PROCEDURE customer_count() SELECT COUNT(*) FROM customers;\n"
        "CREATE TABLE `order lines|2024` (id int PRIMARY KEY, buyer varchar(100), note text) CHARACTER SET latin1;\n"
        "INSERT INTO `order lines|2024` VALUES "
        + ",".join(f"({i}, '{name}', 'ship to {name}')" for i, name in enumerate(LATIN1_BUYERS))
        + ";\n"
    ),
}
EXTRA_RULES = {
    "postgresql": {'crm.Leads | "x".contact': "null"},
    "mysql": {"order lines|2024.buyer": "name", "order lines|2024.note": "hash"},
}
FORMS = {
    "postgresql": [
        *["", "-C", "--clean --if-exists", "-C --clean --if-exists", "-Fc", "-Fc -C --clean"],
        "-E LATIN1",  # rows in latin1, read by the dump's client_encoding
        "-E SQL_ASCII",  # bytes as stored: masked in the database, not in transit
    ],
    "mysql": [
        "",
        "--databases",
        "--single-transaction",
        "--insert-ignore --default-character-set=latin1",  # rows in latin1, read by the dump's SET NAMES
        "--replace --default-character-set=binary",  # bytes as stored: masked in the database, not in transit
        "--databases --single-transaction --routines --triggers",  # last: the checks below use its routines
    ],
}


@dataclass(frozen=True)
class Source:
    """A production database server: a container of the engine's box, outside the team, seeded with the
    generated personal data, whose own dump tool writes the dumps."""

    engine: str
    container: str

    def run(self, command: str, stdin: bytes | None = None) -> bytes:
        done = subprocess.run(
            ["docker", "exec", "-i", self.container, "sh", "-c", command], input=stdin, capture_output=True
        )
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout

    def dump(self, flags: str) -> bytes:
        if self.engine == "postgresql":
            return self.run(f"cd / && su postgres -c 'pg_dump {flags} shop'")
        target = "--databases shop" if "--databases" in flags else "shop"
        return self.run(f"mariadb-dump {flags.replace('--databases', '')} {target}")


@pytest.fixture(scope="module", params=["postgresql", "mysql"])
def source(request: pytest.FixtureRequest, mariadb_box: Path, data: dumps.Data, tmp_path_factory) -> Iterator[Source]:
    engine = request.param
    box = "contrail/db:latest" if engine == "postgresql" else "contrail/db-mariadb:latest"
    name = f"contrail-prod-{uuid.uuid4().hex[:6]}"
    subprocess.run(["docker", "run", "-d", "--name", name, box], check=True, capture_output=True)
    src = Source(engine, name)
    try:
        tmp = tmp_path_factory.mktemp("source")
        if engine == "postgresql":
            ready = "until pg_isready -q; do sleep 0.2; done; cd / && su postgres -c 'createdb shop'"
            src.run(ready)
            seed = gzip.decompress(dumps.postgresql_dump(data, tmp / "seed.sql.gz").read_bytes())
            src.run("cd / && su postgres -c 'psql -q -v ON_ERROR_STOP=1 -d shop'", seed + SOURCE_SQL[engine].encode())
        else:
            src.run("until mariadb -e 'select 1' >/dev/null 2>&1; do sleep 0.2; done")
            src.run("mariadb -e 'CREATE DATABASE shop'")
            seed = dumps.mysql_dump(data, tmp / "seed.sql").read_bytes()
            src.run("mariadb shop", seed + SOURCE_SQL[engine].encode())
        yield src
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def everything_on(team: Team, engine: str) -> str:
    """Every database on the team's staging node of `engine`, dumped whole."""
    if engine == "postgresql":
        return team.ssh("staging-postgresql", "cd / && sudo -u postgres pg_dumpall")
    return team.ssh("staging-mysql", "sudo mariadb-dump --all-databases")


def _with_rules(team: Team, rules: dict[str, str], only: bool = False) -> str:
    """contrail-team.toml with `rules` added (or, `only`, instead of the others); returns what it was."""
    toml = team.dir / "contrail-team.toml"
    original = toml.read_text()
    kept = original[: original.index("[anonymise]")] + "[anonymise]\n" if only else original
    toml.write_text(kept + "".join(f"{json.dumps(k)} = {json.dumps(v)}\n" for k, v in rules.items()))
    return original


def test_every_common_dump_form_loads_and_no_known_value_is_left_anywhere(team, data, source, tmp_path):
    original = _with_rules(team, EXTRA_RULES[source.engine])
    try:
        for flags in FORMS[source.engine]:
            dump = tmp_path / f"prod{flags.replace(' ', '')}.dump"
            dump.write_bytes(source.dump(flags))
            done = team.contrail("staging", "refresh", "--from", str(dump), "--engine", source.engine)
            assert done.status == 0, f"{source.engine} dump {flags or '(plain)'}: {done.stdout}{done.stderr}"
            everything = everything_on(team, source.engine)
            left = [value for value in [*data.personal(), *LATIN1_BUYERS] if value in everything]
            assert left == [], f"{source.engine} dump {flags or '(plain)'}: {len(left)} left, e.g. {left[:2]}"
            query = team.psql if source.engine == "postgresql" else team.mariadb
            assert int(query("SELECT count(*) FROM customers")) == len(data.customers)
        # Masking fired no trigger; the triggers, views and routines work on the served data.
        query = team.psql if source.engine == "postgresql" else team.mariadb
        assert query("SELECT count(*) FROM audit").strip() == "0"
        query("UPDATE customers SET phone = phone WHERE id = 1")
        assert query("SELECT note FROM audit").strip() == "changed 1"
        if source.engine == "postgresql":  # the materialized view was refreshed from the masked table
            assert team.psql("SELECT min(email) FROM recent").strip().endswith("@example.com")
        else:  # created again in the served database, run as the app's account
            assert team.mariadb("SELECT count(*), min(email) FROM first_emails").split() == ["9", _first_fake(team)]
            assert team.mariadb("CALL customer_count()").strip() == str(len(data.customers))
            definers = team.mariadb(
                "SELECT DISTINCT definer FROM information_schema.triggers WHERE trigger_schema='app'"
            )
            assert definers.split() == ["app@%"]
            # A latin1 name copied into a column kept as it is: found there, and nothing is swapped in.
            (team.dir / "contrail-team.toml").write_text(original)
            _with_rules(team, {"order lines|2024.buyer": "name", "order lines|2024.note": "keep"})
            served = "sudo mariadb-dump --skip-dump-date app"
            before = team.ssh("staging-mysql", served)
            kept = team.contrail("staging", "refresh", "--from", str(dump), "--engine", "mysql")
            assert kept.status == 1 and kept.stderr.count("\n") == 1, kept.stdout + kept.stderr
            assert "order lines|2024.note (an original of order lines|2024.buyer)" in kept.stderr
            assert team.ssh("staging-mysql", served) == before
    finally:
        (team.dir / "contrail-team.toml").write_text(original)


def _first_fake(team: Team) -> str:
    return team.mariadb("SELECT min(email) FROM customers WHERE id < 10").strip()


HOSTILE = {
    "postgresql": [
        ("\\! touch {marker}\n", r"psql command \\! refused"),
        ("CREATE TABLE x (a text);\nCOPY x FROM PROGRAM 'touch {marker}';\n", "COPY … PROGRAM"),
        ("SET ROLE postgres;\n", "switches roles"),
        ("\\connect postgres\nCREATE TABLE x (a int);\n", None),  # mapped onto the scratch database
        ("CREATE DATABASE other;\n\\connect other\n\\connect postgres\n", "holds 2 databases"),
    ],
    "mysql": [
        ("system touch {marker}\n", "client command system refused"),
        ("\\! touch {marker}\n", r"client command \\! refused"),
        ("SELECT 'x' INTO OUTFILE '{marker}';\n", "writes files"),
        ("CREATE DATABASE IF NOT EXISTS app;\nUSE app;\nCREATE TABLE x (a int);\n", None),
        ("CREATE DATABASE shop;\nUSE shop;\nUSE mysql;\n", "holds 2 databases"),
    ],
}


def test_a_dump_that_reaches_beyond_its_database_is_refused_and_runs_nothing(team, data, source, tmp_path):
    """Prepended to a real dump (with its personal data): the hostile statement is refused with file:line
    (or mapped onto the scratch database), nothing runs on the node, served data is unchanged, and no
    known value is anywhere on the node."""
    original = _with_rules(team, EXTRA_RULES[source.engine])
    try:
        _refuse_each_hostile_dump(team, data, source, tmp_path)
    finally:
        (team.dir / "contrail-team.toml").write_text(original)


def _refuse_each_hostile_dump(team: Team, data: dumps.Data, source: Source, tmp_path: Path) -> None:
    node = f"staging-{source.engine}"
    query = team.psql if source.engine == "postgresql" else team.mariadb
    before = query("SELECT count(*), min(email) FROM customers")
    real = source.dump("")
    for number, (head, refusal) in enumerate(HOSTILE[source.engine]):
        marker = f"/tmp/contrail-marker-{uuid.uuid4().hex[:8]}"
        dump = tmp_path / f"hostile{number}.sql"
        dump.write_bytes(head.format(marker=marker).encode() + real)
        done = team.contrail("staging", "refresh", "--from", str(dump), "--engine", source.engine)
        if refusal is None:
            assert done.status == 0, done.stdout + done.stderr
        else:
            one_line_error(done, rf"hostile{number}\.sql:\d+: .*{refusal}")
            assert query("SELECT count(*), min(email) FROM customers") == before
        assert team.ssh(node, f"test -e {marker} && echo made || echo none").strip() == "none"
        everything = everything_on(team, source.engine)
        assert not [value for value in data.personal() if value in everything]
        before = query("SELECT count(*), min(email) FROM customers")


# Personal columns as real schemas name them (none in the single pattern Contrail once had), and personal
# data in columns named innocently.
NAMED_WAYS = [
    "custEmailAddr2", "EMailAdresse", "contactEmail", "billing_tel_no", "MobileNumber", "msisdn", "fname",
    "LName", "given_name", "familyName", "Vorname", "date_of_birth", "ipAddress", "remote_addr",
    "shipping_postal_code", "iban_number", "cc_number", "passport_no",
]  # fmt: skip
INNOCENT = {
    "notes": ["called anna.b@shop.org about the refund", "wants invoices at ben@mail.co.uk", "ok"],
    "contact": ["+44 20 7946 0958", "+1 415 555 2671", "+49 30 901820"],
    "data": ['{"iban": "DE89 3704 0044 0532 0130 00"}', '{"iban": "GB82 WEST 1234 5698 7654 32"}', "{}"],
}


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_personal_columns_named_many_ways_or_named_innocently_are_all_named(team, tmp_path, engine):
    quote = (lambda n: f'"{n}"') if engine == "postgresql" else (lambda n: f"`{n}`")
    people = ", ".join(f"{quote(n)} varchar(100)" for n in NAMED_WAYS)
    tickets = ", ".join(f"{quote(n)} text" for n in INNOCENT)
    rows = ", ".join(
        "(" + ", ".join("'" + INNOCENT[n][i].replace("'", "''") + "'" for n in INNOCENT) + ")" for i in range(3)
    )
    script = f"CREATE TABLE people (id int, {people});\nCREATE TABLE tickets ({tickets});\n"
    dump = tmp_path / "wide.sql"
    dump.write_text(script + f"INSERT INTO tickets VALUES {rows};\n")
    query = team.psql if engine == "postgresql" else team.mariadb
    before = query("SELECT count(*), min(email) FROM customers")
    original = _with_rules(team, {}, only=True)
    try:
        refused = team.contrail("staging", "refresh", "--from", str(dump), "--engine", engine)
    finally:
        (team.dir / "contrail-team.toml").write_text(original)
    one_line_error(refused, "columns that look personal have no anonymise rule")
    named = [f"people.{n}" for n in NAMED_WAYS] + [f"tickets.{n} (its values look like" for n in INNOCENT]
    assert [n for n in named if n not in refused.stderr] == []
    assert query("SELECT count(*), min(email) FROM customers") == before


def test_a_service_disabled_in_the_config_loses_its_machine(team):
    toml = team.dir / "contrail-team.toml"
    toml.write_text(toml.read_text().replace("mysql = true", "mysql = false"))
    up = team.contrail("team", "up")
    assert up.status == 0, up.stdout + up.stderr
    assert f"removed   {team.name}-staging-mysql" in up.stdout
    running = docker.environment_containers(team.name)
    assert f"{team.name}-staging-mysql" not in running and f"{team.name}-staging-postgresql" in running


def test_team_destroy_leaves_nothing(team):
    assert team.contrail("team", "destroy").status == 0
    assert leftovers(team.name) == []
