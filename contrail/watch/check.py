"""`contrail check`: what several app servers break in this app, found on the live topology.

The seed's reason for the topology: it "forces you to consider (and allows you to check) the
implications of multiple app servers, concurrency and caching". Each check reports per app server
(or per pair, writer → reader) pass, warn or fail, with the fix in one line:

- state: through Contrail's WSGI wrapper, inside a serving worker of each server, a session, a cache
  key and a file in the default storage are written with the app's *configured* Django backends and
  read back through the next server (contrail_probe.py; no URL of the app needed);
- files: what the app wrote on each server's own disk while serving, since the live release went live;
- settings: SQLite, a SECRET_KEY that differs between servers, DEBUG, and the adaptations Contrail
  made (devenv/contrail_settings.py) that production needs too;
- a user flow (flow.py), pinned to one server and then each step on the next, and run by N clients
  at once.

The probes answer only on the server itself, to a token written for this run and removed after it
(its value never appears in a command line or a log).
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import time
import urllib.parse
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from contrail import deploy
from contrail.deploy import adapt, apperror
from contrail.deploy.rollout import APP, Project
from contrail.environment.health import http_get
from contrail.errors import ContrailError, ToolFailed
from contrail.tools.ssh import Remote
from contrail.watch import flow

TOKEN = f"{APP}/run/check-token"
PROBE = "http://127.0.0.1:8000/_contrail/check"
# The token as a request header, read from its file on the server (so it is in no command line).
HEADER = f"printf 'X-Contrail-Check: %s\\n' \"$(cat {TOKEN})\" | curl -fsS --max-time 20 -H @- "
MAX_FILES = 200
# Where an app's own writes do not count: the system's and Contrail's run-time state, logs, bytecode.
# (/tmp/hsperfdata_*: a JVM's performance counters, which it rewrites while it runs)
PRUNED = ("/proc", "/sys", "/dev", "/run", "/var/log", "/var/lib", f"{APP}/run", "/tmp/hsperfdata_*")
RELEASE_DIR = re.compile(rf"{APP}/releases/[^/]+/")
SHARED = "/srv/shared"


@dataclass(frozen=True)
class Finding:
    check: str
    server: str  # an app server, "app1 → app2" (written through one, read through the other) or "all"
    status: str  # "pass", "warn" or "fail"
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Report:
    findings: list[Finding]
    seconds: float

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "fail"]

    def as_json(self) -> str:
        return json.dumps(
            {
                "passed": not self.failed,
                "seconds": round(self.seconds, 2),
                "findings": [asdict(f) for f in self.findings],
            },
            indent=2,
        )


def run(env: Project, extra: Callable[[list[Remote]], list[Finding]] | None = None) -> Report:
    """Every check on the live topology; `extra` adds the flow checks (given the app servers)."""
    started = time.monotonic()
    log = env.ws.new_log("check")
    remotes = deploy.connect(env, env.app_nodes, log)
    if env.cfg.app.server == "tomcat":
        findings = session_findings(env, [health_of(n.ip) for n in env.app_nodes])
        findings += file_findings(deploy.parallel(lambda r: _written_files(r, "tomcat"), remotes), _names(remotes))
        return Report(findings + (extra(remotes) if extra else []), time.monotonic() - started)
    run_id = secrets.token_hex(8)
    values = [f"{run_id}-{r.name}" for r in remotes]  # what each server writes: its own
    token = secrets.token_hex(24)
    try:
        deploy.parallel(lambda r: _write_token(r, token), remotes)
        # The probes one server at a time: a backend that hangs holds a worker for seconds, and a server
        # whose workers are all busy leaves the web nodes' rotation; never all of them at once.
        first = [_first_probes(r, value, run_id) for r, value in zip(remotes, values, strict=True)]
        frameworks = {answer.get("framework") for answer in first}
        if "none" in frameworks:
            raise ContrailError("no release is live on the app servers", "run `fab push` first")
        findings = [
            Finding("probes", r.name, "fail", a["error"], "`contrail status`; `contrail logs` the server")
            for r, a in zip(remotes, first, strict=True)
            if "error" in a
        ]
        if frameworks == {"wsgi"}:
            findings.append(
                Finding(
                    "state",
                    "all",
                    "warn",
                    "sessions, caches and file storage are probed in Django apps; this app's only with --flow",
                    "contrail check --flow FILE (a few requests of a user flow)",
                )
            )
        if frameworks == {"django"} and not findings:
            findings += state_findings(remotes, first, values)
            findings += settings_findings([r.name for r in remotes], [a["settings"] for a in first])
            findings += adaptation_findings(env)
        findings += file_findings(deploy.parallel(_written_files, remotes), [r.name for r in remotes])
        if extra:
            findings += extra(remotes)
    finally:
        deploy.parallel(lambda r: r.run(f"sudo rm -f {TOKEN}", check=False), remotes)
    return Report(findings, time.monotonic() - started)


def _probe(remote: Remote, operation: str, **params: str) -> dict:
    query = urllib.parse.urlencode({"op": operation, **params})
    answer = remote.run(HEADER + shlex.quote(f"{PROBE}?{query}"), what=f"the {operation} probe")
    return json.loads(answer.stdout)


def _write_token(remote: Remote, token: str) -> None:
    """This run's token on the server (readable by the app's group only)."""
    remote.run(
        f"sudo sh -c 'umask 027; cat > {TOKEN}.new && chgrp app {TOKEN}.new && mv {TOKEN}.new {TOKEN}'",
        stdin=token,
        what="writing the check's token",
    )


def _first_probes(remote: Remote, value: str, salt: str) -> dict:
    """The probes write `value` and report the settings (the secret key keyed with `salt`, the same
    for every server)."""
    try:
        written = _probe(remote, "write", value=value)
        if written.get("framework") == "django":
            written["settings"] = _probe(remote, "settings", value=salt)
    except ToolFailed as err:
        return {"framework": "unknown", "error": f"the probes did not answer: {err.message}"}
    return written


def state_findings(remotes: list[Remote], written: list[dict], values: list[str]) -> list[Finding]:
    """Each server's probe values read through the next server, then removed."""
    pairs = [(i, (i + 1) % len(remotes)) for i in range(len(remotes))] if len(remotes) > 1 else []

    def read(pair: tuple[int, int]) -> dict:
        writer, reader = pair
        keys = written[writer]
        return _probe(
            remotes[reader],
            "read",
            value=values[writer],
            session=keys["session"].get("key") or "",
            storage=keys["storage"].get("key") or "",
        )

    answers = [read(pair) for pair in pairs]  # one server at a time (see run)
    for remote, value, keys in zip(remotes, values, written, strict=True):
        _probe(
            remote,
            "clean",
            value=value,
            session=keys["session"].get("key") or "",
            storage=keys["storage"].get("key") or "",
        )
    settings = written[0]["settings"]
    findings = []
    for (writer, reader), answer in zip(pairs, answers, strict=True):
        route = f"{remotes[writer].name} → {remotes[reader].name}"
        for kind, result in answer.items():
            if not isinstance(result, dict) or kind in ("node", "release", "framework"):
                continue
            error = written[writer][kind].get("error") or result.get("error", "")
            findings.append(_state_finding(kind, route, bool(result.get("found")), error, settings))
    if not pairs:
        findings.append(Finding("state", remotes[0].name, "warn", "one app server: nothing to compare with"))
    return findings


def _state_finding(kind: str, route: str, found: bool, error: str, settings: dict) -> Finding:
    writer, reader = route.split(" → ")
    if kind == "session":
        what, backend = "session", settings.get("session_engine", "")
        fix = (
            'SESSION_ENGINE = "django.contrib.sessions.backends.db" (the default), or "cache"/"cached_db" '
            "with CACHES on the cache node"
        )
    elif kind.startswith("cache:"):
        alias = kind.split(":", 1)[1]
        what, backend = f"cache {alias!r}", settings.get("caches", {}).get(alias, "")
        fix = (
            f'CACHES["{alias}"] on the cache node: BACKEND "django.core.cache.backends.redis.RedisCache", '
            'LOCATION os.environ["REDIS_URL"] (or PyMemcacheCache with the memcached node)'
        )
        if backend.endswith("DummyCache"):
            return Finding(what, route, "pass", f"{backend} caches nothing (nothing to share)")
    else:
        what = "file storage"
        backend = settings.get("storage", "")
        location = settings.get("storage_location", "")
        if location:
            backend += f" at {location}"
        fix = f'MEDIA_ROOT = "{SHARED}/media" (every app server shares {SHARED}; object storage in production)'
    if error:
        return Finding(
            what, route, "fail", f"{backend}: writing or reading failed: {error}", "is it up? `contrail status`"
        )
    if found:
        return Finding(what, route, "pass", f"written through {writer}, read through {reader} ({backend})")
    return Finding(
        what, route, "fail", f"written through {writer}, missing through {reader}: {backend} is per server", fix
    )


def settings_findings(names: list[str], settings: list[dict]) -> list[Finding]:
    findings = []
    keys = {s["secret_key"] for s in settings}
    if len(keys) > 1:
        findings.append(
            Finding(
                "SECRET_KEY",
                "all",
                "fail",
                "differs between app servers: a session or signed cookie made by one is refused by another",
                "set SECRET_KEY from the environment, the same on every server",
            )
        )
    else:
        findings.append(Finding("SECRET_KEY", "all", "pass", "the same on every app server"))
    sqlite = sorted({alias for s in settings for alias, engine in s["databases"].items() if "sqlite" in engine})
    if sqlite:
        findings.append(
            Finding(
                "database",
                "all",
                "fail",
                f"DATABASES {', '.join(sqlite)}: SQLite, a file on each app server",
                "use the database node (DATABASE_URL in the environment, e.g. with dj-database-url)",
            )
        )
    else:
        engines = ", ".join(sorted({e.rsplit(".", 1)[-1] for s in settings for e in s["databases"].values()}))
        findings.append(Finding("database", "all", "pass", f"one database for every app server ({engines})"))
    debug = [name for name, s in zip(names, settings, strict=True) if s["debug"]]
    if debug:
        findings.append(
            Finding(
                "DEBUG",
                ", ".join(debug),
                "warn",
                "DEBUG = True: error pages show settings and code; fine here, never in production",
                "read DEBUG from the environment (off unless set)",
            )
        )
    return findings


def adaptation_findings(env: Project) -> list[Finding]:
    """What devenv/contrail_settings.py adapts: production must do the same from its environment."""
    cfg = env.cfg
    if cfg.app.framework != "django":
        return []
    fixes = {
        "DATABASES": "DATABASES from DATABASE_URL (dj-database-url)",
        "STATIC_ROOT": "STATIC_ROOT set, collectstatic run once per release, served by the web servers",
        "ALLOWED_HOSTS": "ALLOWED_HOSTS from the environment",
        "SECRET_KEY": "SECRET_KEY from the environment",
    }
    return [
        Finding(
            f.name,
            "all",
            "warn",
            f"adapted by {adapt.SETTINGS_FILE} (the project's: {f.describe()}); production needs the same",
            fixes[f.name],
        )
        for f in adapt.analyse(cfg.app.path, cfg.app.django_settings)
        if f.adapted
    ]


def _names(remotes: list[Remote]) -> list[str]:
    return [r.name for r in remotes]


def health_of(ip: str) -> dict:
    """An app server's health answer ({} when it does not answer)."""
    status, body = http_get(f"http://{ip}:8000/_contrail/health", timeout=3)
    try:
        answer = json.loads(body) if status == 200 else {}
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def session_findings(env: Project, answers: list[dict]) -> list[Finding]:
    """Tomcat keeps each session in the server that made it (the web nodes route it there by the
    jvmRoute in JSESSIONID): what that means for users, where the sessions are now, and what
    replicating them would take — for this app (is it marked <distributable/>?)."""
    held = ", ".join(
        f"{n.name} {sum(v.get('sessions', 0) for v in answer.get('versions', []))}"
        for n, answer in zip(env.app_nodes, answers, strict=True)
    )
    war = env.cfg.app.war
    distributable = war is not None and war.is_file() and war_is_distributable(war)
    detail = (
        "sessions are per server: each lives in the Tomcat that made it and Nginx sends its requests "
        f"there (JSESSIONID ….app1); a server that stops, or is recreated, takes its sessions with it "
        f"and their users start again. Sessions now: {held}"
    )
    if distributable:
        fix = (
            "the app is marked <distributable/> (its session attributes must be Serializable): give each "
            "Tomcat a <Cluster> in server.xml (DeltaManager, or BackupManager beyond a few servers; static "
            "membership on this network), or keep sessions in a shared store"
        )
    else:
        fix = (
            "to replicate them: mark the app <distributable/> in WEB-INF/web.xml with Serializable session "
            "attributes, and give each Tomcat a <Cluster> in server.xml (DeltaManager, or BackupManager "
            "beyond a few servers); or keep sessions in a shared store (a session Manager on the database "
            "or the cache node)"
        )
    return [Finding("sessions", "all", "warn", detail, fix)]


def war_is_distributable(war: Path) -> bool:
    """The .war's WEB-INF/web.xml declares <distributable/> (its sessions may move between servers)."""
    try:
        with zipfile.ZipFile(war) as archive:
            web_xml = archive.read("WEB-INF/web.xml").decode(errors="replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False
    return re.search(r"<(\w+:)?distributable\s*/?>", web_xml) is not None


def _written_files(remote: Remote, user: str = "app") -> list[str]:
    """Files the app's user wrote on this server's disk since the live release went live."""
    pruned = " -o ".join(f"-path {shlex.quote(p)}" for p in PRUNED)  # (quoted: a pattern is find's, not sh's)
    command = (
        f"sudo find / -xdev \\( {pruned} -o -name __pycache__ \\) -prune -o -user {user} -type f "
        f"-newer {APP}/current/.contrail-release -print 2>/dev/null | head -n {MAX_FILES}"
    )
    return remote.run(command, check=False).stdout.split("\n")


def file_findings(listings: list[list[str]], names: list[str]) -> list[Finding]:
    findings = []
    for name, listing in zip(names, listings, strict=True):
        files = [RELEASE_DIR.sub("<release>/", f) for f in listing if f.strip()]
        if not files:
            findings.append(Finding("files on disk", name, "pass", "the app wrote no file on this server"))
            continue
        shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
        sqlite = [f for f in files if re.search(r"\.(sqlite3?|db)(-journal|-wal)?$", f)]
        fixes = ["a SQLite database is per server: use the database node (DATABASE_URL)"] if sqlite else []
        if len(sqlite) < len(files):
            fixes.append(f"keep files in the database, the cache node or {SHARED} (every app server shares it)")
        fix = "; ".join(fixes)
        detail = f"the app wrote {len(files)} file(s) only this server has: {shown}"
        findings.append(Finding("files on disk", name, "fail", detail, fix))
    return findings


def flow_checks(env: Project, steps: list[flow.Step], concurrency: int) -> Callable[[list[Remote]], list[Finding]]:
    """The flow replayed pinned, alternated and (with `concurrency`) by that many clients at once."""

    def checks(remotes: list[Remote]) -> list[Finding]:
        base = f"http://127.0.0.1:{env.cfg.host_port}"
        servers = [r.name for r in remotes]
        pinned = flow.replay(base, steps, servers[:1])
        findings = [_pinned_finding(steps, pinned, servers[0])]
        if len(servers) > 1:
            alternated = flow.replay(base, steps, servers)
            findings.append(_alternated_finding(steps, pinned, alternated, servers))
        if concurrency:
            sizes = deploy.parallel(_log_size, remotes)
            crowd = flow.crowd(base, steps, servers, concurrency)
            raised = deploy.parallel(lambda pair: _raised_since(*pair), list(zip(remotes, sizes, strict=True)))
            findings += _crowd_findings(steps, crowd, [r for answers in raised for r in answers])
        return findings

    return checks


def _step(steps: list[flow.Step], index: int) -> str:
    return f"step {index + 1} ({steps[index].name!r})"


def _pinned_finding(steps: list[flow.Step], outcomes: list[flow.Outcome], server: str) -> Finding:
    failed = next((o for o in outcomes if not o.ok), None)
    if failed is None:
        return Finding("flow, pinned", server, "pass", f"all {len(steps)} steps as expected on {server}")
    return Finding(
        "flow, pinned",
        server,
        "fail",
        f"{_step(steps, failed.step)} fails even on one server: {failed.problem}",
        "fix the flow (or the app); with several workers per server, state kept per process fails this way too",
    )


def _alternated_finding(
    steps: list[flow.Step], pinned: list[flow.Outcome], alternated: list[flow.Outcome], servers: list[str]
) -> Finding:
    route = " → ".join(servers)
    failed = next((o for o in alternated if not o.ok), None)
    if failed is None:
        return Finding("flow, alternated", route, "pass", "every step as expected, each on the next app server")
    if any(not o.ok for o in pinned):
        return Finding("flow, alternated", route, "warn", f"{_step(steps, failed.step)}: {failed.problem}")
    before = f" after {servers[(failed.step - 1) % len(servers)]}" if failed.step else ""
    return Finding(
        "flow, alternated",
        route,
        "fail",
        f"{_step(steps, failed.step)} passes pinned, fails on {failed.server}{before}: {failed.problem}",
        "what an earlier step stored lives on one server: see the session, cache and file checks",
    )


DATABASE_ERROR = re.compile(r"IntegrityError|OperationalError|DatabaseError|InterfaceError|deadlock|serializ")


def _log_size(remote: Remote) -> int:
    said = remote.run(f"sudo stat -c %s {deploy.APP_LOG}", check=False).stdout.strip()
    return int(said) if said.isdigit() else 0


def _raised_since(remote: Remote, size: int) -> list[tuple[str, str]]:
    tail = remote.run(f"sudo tail -c +{size + 1} {deploy.APP_LOG}", check=False, private=True)
    return apperror.raised(tail.stdout)


def _crowd_findings(steps: list[flow.Step], crowd: flow.Crowd, raised: list[tuple[str, str]]) -> list[Finding]:
    who = f"{crowd.clients} clients at once"
    database = Counter(
        index
        for path, exception in raised
        if DATABASE_ERROR.search(exception)
        for index, step in enumerate(steps)
        if urllib.parse.urlsplit(step.path).path == path
    )
    bad = sorted(set(crowd.server_errors) | set(crowd.failures) | set(database))
    if not bad:
        return [Finding("flow, concurrent", who, "pass", "no server error; every step as expected")]
    findings = []
    for index in bad:
        parts = []
        if crowd.server_errors[index]:
            parts.append(f"{crowd.server_errors[index]} of {crowd.clients} got a server error")
        if database[index]:
            example = next(e for p, e in raised if DATABASE_ERROR.search(e))
            parts.append(f"{database[index]} database error(s), e.g. {example}")
        if crowd.failures[index]:
            parts.append(f"{crowd.failures[index]} other failure(s)")
        detail = f"{_step(steps, index)}: {'; '.join(parts)} — {crowd.examples.get(index, '')}".rstrip(" —")
        findings.append(
            Finding(
                "flow, concurrent",
                who,
                "fail",
                detail,
                "requests at once on several servers: unique constraints, select_for_update or F() updates, "
                "idempotent steps",
            )
        )
    return findings
