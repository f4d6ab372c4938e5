"""`fab push` and friends: put the app's code live on every app server, gracefully.

A push: the push lock on the first app server (one push at a time per environment; asked for at once,
held before anything live is read or moved) → wheels built on the host (cached by the requirements'
key) → on every app server at once, the venv for that key if it is new, and the code rsynced into
releases/<id> (hard-linked against the live release where a file's
*content* is unchanged, so only changed files travel) → the release is checked on one server (every
module compiles, the WSGI app and, for Django, `check` import) → migrations and collectstatic once,
only when their inputs changed → on every app server, `current` switched atomically (ln + mv -T) and
Gunicorn sent HUP → each server's health endpoint must report the new release → HAProxy's checks see
every web node UP (the front door serves it). A release that fails its check is removed and `current`
never moves; a switch that fails on any server puts every server it touched back on its previous
release.

A Tomcat app server's release is the app's .war (app.war): rsynced the same way (so it travels only
when its checksum changed), and deployed beside the live version by `contrail-switch` through Tomcat's
manager (parallel deployment: sessions stay on the version that made them), with the same lock,
canary, rolling order, rollback and front-door wait.

What lives only as long as the push (the lock, an app server drained from Nginx) is held by a remote
command that undoes it when the push's end of the connection closes (ssh.Session; agent.AgentSession
for the commands the app box's contrail-agent starts warm): a push killed or cut off at any moment
leaves neither behind for more than a few seconds.
"""

from __future__ import annotations

import datetime
import getpass
import os
import shlex
import shutil
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from contrail import config, topology
from contrail.config import DevConfig
from contrail.deploy import adapt, apperror, release, wheelhouse
from contrail.digest import file_sha256
from contrail.environment import dev, haproxy_stats
from contrail.environment.core import Environment
from contrail.environment.health import answered_proxy_stats, http_get, json_field
from contrail.errors import ContrailError, ToolFailed
from contrail.tools import agent
from contrail.tools.agent import Held
from contrail.tools.ssh import Remote, Session
from contrail.workspace import Workspace

APP = "/srv/app"
KEEP_RELEASES = 5
MIGRATED = f"{APP}/shared/migrations.digest"  # the migrations' digest the database was last migrated to
MIGRATIONS = ".contrail-migrations"  # in a release: its migrations' digest
SERVED = ".contrail-served"  # in a release: it went live on that server (contrail-switch marks it)
HEALTH_WAIT = 30  # seconds for new workers to answer with the new release
DRAIN_WAIT = 10  # seconds for in-flight requests on a drained server to finish
CANARY_WAIT = 5  # seconds for the canary's page to answer without a server error
FRONT_DOOR_WAIT = 20  # seconds for HAProxy's checks to see every web node UP after the switch
CONFIRMATIONS = 3  # health answers in a row that must report the new release (one worker may lag)
UPSTREAM = "/usr/local/sbin/contrail-upstream"  # a web node's rotation (provision_scripts/web.sh)
LOCK_WAIT = 120  # seconds a push waits for the one in progress to end
LOCK_LIMIT = 1800  # a lock whose holder's connection hangs (not drops) ends by itself after this long
DRAIN_LIMIT = 60  # likewise for a drained app server: back in rotation after this long at most
STATUS_WAIT = 3  # seconds `status` waits for a node's answer (a paused machine never answers)
T = TypeVar("T")
X = TypeVar("X")


class PushFailed(ContrailError):
    exit_status = 1


@dataclass(frozen=True)
class Project:
    """An app project (contrail.toml) and the environment it is pushed to."""

    cfg: DevConfig
    env: Environment

    @classmethod
    def load(cls, project: Path) -> Project:
        cfg = config.load(project / config.FILENAME)
        return cls(cfg, dev.environment(cfg))

    @property
    def ws(self) -> Workspace:
        return self.env.workspace

    @property
    def app_nodes(self) -> list[topology.Node]:
        return self.env.by_role("app")

    @property
    def web_nodes(self) -> list[topology.Node]:
        return self.env.by_role("web")


@dataclass(frozen=True)
class PushReport:
    release: str
    seconds: float
    servers: int
    installed_requirements: bool
    migrated: bool
    collected_static: bool
    phases: dict[str, float]


class Phases:
    """Wall time of each step of a push, for the summary and the benchmark."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started = self._last = time.monotonic()

    def done(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = round(now - self._last, 3)
        self._last = now


def push(project: Project, rolling: bool = True, on_wait: Callable[[str], None] = lambda holder: None) -> PushReport:
    """Rolling by default: one app server at a time, the first one a canary (out of rotation until its
    page answers on the new release). `on_wait(holder)` while another push holds the lock.

    The lock is asked for first and the release travels while it is being taken: the upload writes only
    releases/<new id>, which no other push touches; what the servers run now (`current`, its venv and
    code) is read only once the lock is held, and nothing live moves before that."""
    phases = Phases()
    log = project.ws.new_log("push")
    remotes = connect(project, project.app_nodes, log)
    with ThreadPoolExecutor(1) as locking:
        lock = Lock(remotes[0], "rolling push" if rolling else "all-at-once push", on_wait, locking)
        switches = Switches(remotes, lock, locking)
        try:
            return _push(project, log, remotes, rolling, phases, lock, switches)
        finally:
            lock.close()
            switches.close()


class Lock:
    """The push lock, asked for at once and waited for where it must be held (`wait`)."""

    def __init__(self, first: Remote, kind: str, on_wait: Callable[[str], None], pool: ThreadPoolExecutor) -> None:
        self.session = _ask_lock(first, kind)
        self.taking: Future[None] = pool.submit(_await_lock, self.session, on_wait)

    def wait(self) -> None:
        """Until the lock is held; PushFailed when it could not be taken."""
        self.taking.result()

    def close(self) -> None:
        """The lock given back; a push that ends before it was held stops asking for it at once."""
        self.session.close(timeout=30 if self.taking.done() else 0)
        self.taking.exception()


def _push(
    project: Project, log: Path, remotes: list[Remote], rolling: bool, phases: Phases, lock: Lock, switches: Switches
) -> PushReport:
    cfg = project.cfg
    if cfg.app.server == "tomcat":
        return _push_war(project, log, remotes, rolling, phases, lock, switches)
    django = cfg.app.framework == "django"
    rid = release.new_release_id()
    settings = _adapted_settings(cfg)
    extra = adapt.extra_wheels(settings, release.requirement_lines(cfg.app.requirements)) if settings else []
    key, wheels = wheelhouse.ensure(cfg.app.requirements, project.ws.state / "wheelhouse", log, extra)
    phases.done("wheelhouse")
    webs = connect(project, project.web_nodes, log)
    first = remotes[0]
    with tempfile.TemporaryDirectory(prefix="contrail-push-") as tmp, ThreadPoolExecutor(len(remotes) + 2) as pool:
        digests = release.Digests.of(cfg.app.path, key, key + settings)
        code = digests.code
        overlay = _overlay(Path(tmp), rid, key, digests, settings)
        static_links = pool.submit(_static_links, webs if django else [])
        futures = [pool.submit(_upload, r, cfg, rid, key, wheels, overlay, lock, switches) for r in remotes]
        # A rolling push's canary leaves rotation while the release travels, not after (once the lock is held).
        predrain = rolling and len(remotes) > 1  # (a lone app server is never drained)
        draining = pool.submit(_drain_when_locked, lock, webs, project.app_nodes[0].ip) if predrain else None
        canary_drain: list[Session] = []
        made = [rid]
        try:
            uploaded = futures[0].result()
            if _live_after([uploaded], rid):  # (renamed once every server has it)
                rid = _retake_release_id(remotes, rid, [f.result() for f in futures], made)
            if uploaded.live_code != code:
                _check_release(first, cfg, rid, log)  # while the other servers receive the release
            uploads = [f.result() for f in futures]
            canary_drain = draining.result() if draining else []
        except (ToolFailed, PushFailed):
            for future in [*futures, *([draining] if draining else [])]:
                future.exception()
            if draining and not draining.exception():
                _undrain(draining.result())
            _remove_releases(remotes, made)
            raise
        links = static_links.result()
    phases.done("lock+upload+check")
    try:
        return _go_live(
            project, log, remotes, webs, rid, uploads, links, digests, phases, rolling, canary_drain, switches
        )
    finally:
        _undrain(canary_drain)


def _go_live(
    project: Project,
    log: Path,
    remotes: list[Remote],
    webs: list[Remote],
    rid: str,
    uploads: list[Upload],
    links: set[str],
    digests: release.Digests,
    phases: Phases,
    rolling: bool,
    canary_drain: list[Session],
    switches: Switches,
) -> PushReport:
    """An uploaded and checked release: migrations and static files if they changed, then the switch
    (`canary_drain`: the canary already out of rotation) and HAProxy's view of it."""
    cfg = project.cfg
    django = cfg.app.framework == "django"
    first = remotes[0]
    migrated = django and _migrate_if_changed(first, rid, digests.migrations, uploads[0].migrated)
    phases.done("migrate")
    static = django and _publish_static(project, first, webs, links, rid, digests.static)
    phases.done("static")
    previous = [u.live_release for u in uploads]
    restarts = [u.new_venv for u in uploads]
    _switch_release(project, remotes, webs, rid, previous, restarts, switches, rolling, canary_drain)
    phases.done("switch")
    _wait_front_door(project, log, f"release {rid} is live on the app servers")
    phases.done("front door")
    installed = any(u.installed for u in uploads)
    seconds = time.monotonic() - phases.started
    return PushReport(rid, seconds, len(remotes), installed, migrated, static, phases.seconds)


def _push_war(
    project: Project, log: Path, remotes: list[Remote], rolling: bool, phases: Phases, lock: Lock, switches: Switches
) -> PushReport:
    """The .war to every Tomcat: uploaded where its checksum changed, deployed beside the live version
    (no release check, migrations or static files of Contrail's: the .war is the app, and a .war that
    fails to start is refused by Tomcat's manager, on the canary first)."""
    war = project.cfg.app.war
    if war is None or not war.is_file():
        raise PushFailed(f"the .war {war} does not exist", "build it first (e.g. `mvn package`), then push")
    rid = release.new_release_id()
    webs = connect(project, project.web_nodes, log)
    with tempfile.TemporaryDirectory(prefix="contrail-push-") as tmp:
        overlay = Path(tmp)
        (overlay / ".contrail-release").write_text(rid + "\n")
        (overlay / ".contrail-code").write_text(file_sha256(war) + "\n")
        try:
            os.link(war, overlay / WAR)  # (a hard link: the .war is read, never written)
        except OSError:
            shutil.copyfile(war, overlay / WAR)
        made = [rid]
        try:
            uploads = parallel(lambda r: _upload_release(r, rid, overlay, lock, switches), remotes)
            if _live_after(uploads, rid):
                rid = _retake_release_id(remotes, rid, uploads, made)
        except (ToolFailed, PushFailed):
            _remove_releases(remotes, made)
            raise
    phases.done("lock+upload")
    previous = [u.live_release for u in uploads]
    _switch_release(project, remotes, webs, rid, previous, [False] * len(remotes), switches, rolling)
    phases.done("switch")
    _wait_front_door(project, log, f"release {rid} is live on the app servers")
    phases.done("front door")
    return PushReport(rid, time.monotonic() - phases.started, len(remotes), False, False, False, phases.seconds)


WAR = "ROOT.war"  # a Tomcat release's .war in releases/<id> (deployed as the root context)


def _live_after(uploads: list[Upload], rid: str) -> str:
    """The newest release live on these servers if it sorts after `rid` (else ""): a push that held the
    lock first went live after this push took its id (its release travels while the lock is taken)."""
    newest = max((u.live_release for u in uploads if u.live_release[:1].isdigit()), default="")
    return newest if newest >= rid else ""


def _retake_release_id(remotes: list[Remote], rid: str, uploads: list[Upload], made: list[str]) -> str:
    """The uploaded release `rid` renamed on every server to an id after the live one's
    (release.release_id_after), which is returned (and added to `made`): releases are ordered by their
    ids (rollback, pruning, Tomcat's versions), so one that goes live later must not sort before it."""
    new = release.release_id_after(_live_after(uploads, rid))
    made.append(new)
    old_path, new_path = (shlex.quote(f"{APP}/releases/{r}") for r in (rid, new))
    # (a new id file renamed over the old one: were it ever hard-linked to another release's, writing through
    # it would change that one too)
    command = (
        f"mv -T {old_path} {new_path} && echo {shlex.quote(new)} > {new_path}/.contrail-release.new && "
        f"mv -f {new_path}/.contrail-release.new {new_path}/.contrail-release"
    )
    parallel(lambda r: r.run(command, what=f"renaming release {rid} to {new}"), remotes)
    return new


def _remove_releases(remotes: list[Remote], names: list[str]) -> None:
    """Releases removed from every server: a push's that will not go live (under each name it had), a
    rollback's that it left."""
    paths = shlex.join(f"{APP}/releases/{name}" for name in names)
    parallel(lambda r: r.run(f"rm -rf {paths}", check=False), remotes)


def _upload_release(remote: Remote, rid: str, overlay: Path, lock: Lock, switches: Switches) -> Upload:
    """A release that is one directory (a Tomcat's) into releases/<rid>, hard-linked against `current`
    where unchanged; what the server runs now, read at the same time (once the lock is held)."""
    with ThreadPoolExecutor(1) as pool:
        asked = pool.submit(_ask_live, remote, lock, switches)
        # (--checksum: see _upload; the release readable by Tomcat, which copies the .war into its webapps)
        options = ["--checksum", f"--link-dest={APP}/current/", "--chmod=D755,F644"]
        remote.rsync([f"{overlay}/"], f"{APP}/releases/{rid}/", options=options)
        live = Upload.read(asked.result(), "")
    return Upload(False, False, live.live_code, live.live_release, live.migrated)


def connect(project: Project, nodes: list[topology.Node], log: Path) -> list[Remote]:
    return project.env.remotes(nodes, log)


def parallel(work: Callable[[X], T], items: list[X]) -> list[T]:
    with ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
        return list(pool.map(work, items))


def _adapted_settings(cfg: DevConfig) -> str:
    """A Django project's devenv/contrail_settings.py as startdev wrote it (and as the user may have
    edited it), or made the same way when the checkout has none (CI's); "" for other apps."""
    if cfg.app.framework != "django":
        return ""
    file = cfg.project_dir / adapt.SETTINGS_FILE
    return file.read_text() if file.is_file() else adapt.settings_for(cfg)[0]


def _overlay(directory: Path, rid: str, key: str, digests: release.Digests, settings: str) -> Path:
    """What Contrail adds to the app's files in every release: its id, its code and migrations digests,
    its venv link, and a Django project's adapted settings module."""
    (directory / ".contrail-release").write_text(rid + "\n")
    (directory / ".contrail-code").write_text(digests.code + "\n")
    (directory / MIGRATIONS).write_text(digests.migrations + "\n")
    (directory / "venv").symlink_to(f"{APP}/venvs/{key}")
    if settings:
        (directory / f"{adapt.SETTINGS_MODULE}.py").write_text(settings)
    return directory


@dataclass(frozen=True)
class Upload:
    installed: bool  # the venv for these requirements was built on this push
    new_venv: bool  # the release runs another venv than the live one (Gunicorn must restart)
    live_code: str  # the code digest of the live release ("" if unknown)
    live_release: str  # the release `current` points at before this push
    migrated: str  # the migrations' digest this server's database was last migrated to ("" if none)

    # What the upload asks the server about its live release (one `key=value` line each; `complete`: the
    # marker files of the complete venvs). The switch started ahead answers it as it starts (contrail-switch
    # --from-stdin); this command, on a box whose switch does not.
    QUESTION = (
        f"echo release=$(basename $(readlink {APP}/current)); echo venv=$(readlink {APP}/current/venv); "
        f"echo code=$(cat {APP}/current/.contrail-code 2>/dev/null); echo migrated=$(cat {MIGRATED} 2>/dev/null); "
        f"echo complete=$(ls -d {APP}/venvs/*/.complete 2>/dev/null)"
    )

    @classmethod
    def read(cls, answer: str, venv: str) -> Upload:
        """The question's answer, for an upload of a release running `venv`."""
        state = dict(line.partition("=")[::2] for line in answer.splitlines())
        return cls(
            f"{venv}/.complete" not in state.get("complete", "").split(),
            state.get("venv") != venv,
            state.get("code", ""),
            state.get("release", ""),
            state.get("migrated", ""),
        )


def _ask_live(remote: Remote, lock: Lock, switches: Switches) -> str:
    """Once the lock is held: what the server runs now (Upload.QUESTION's answer), as the switch started
    on it said, else asked."""
    lock.wait()
    return switches.live(remote) or remote.run(Upload.QUESTION, check=False).stdout


def _upload(
    remote: Remote, cfg: DevConfig, rid: str, key: str, wheels: Path, overlay: Path, lock: Lock, switches: Switches
) -> Upload:
    """The venv for `key` (if new) and the code into releases/<rid>, hard-linked against `current`;
    what the server runs now is read at the same time (once the lock is held: see `push`)."""
    venv = f"{APP}/venvs/{key}"
    with ThreadPoolExecutor(1) as pool:
        asked = pool.submit(_ask_live, remote, lock, switches)
        options = [f"--exclude={e}" for e in release.EXCLUDES]
        # --checksum: rsync's quick check (same size, same mtime to the second) would hard-link an edited
        # file from the live release when the edit kept its length within the second (a word changed, or
        # the overlay's release id of a push less than a second after the last one), so the new release
        # would carry old code or the old id.
        options += ["--filter=:- .gitignore", "--checksum", f"--link-dest={APP}/current/"]
        # Directories group-writable and setgid (group app): the app may create files in its release,
        # as on any one server (see configure/app.sh); the pushed files stay read-only to it.
        options += ["--chmod=Dg+ws"]
        remote.rsync([f"{cfg.app.path}/", f"{overlay}/"], f"{APP}/releases/{rid}/", options=options)
        upload = Upload.read(asked.result(), venv)
    if upload.installed:
        _install_venv(remote, key, wheels)
    return upload


def _install_venv(remote: Remote, key: str, wheels: Path) -> None:
    """The venv for requirements `key`, from the wheels in `wheels` (a local wheelhouse)."""
    venv = f"{APP}/venvs/{key}"
    remote.rsync([f"{wheels}/"], f"{APP}/wheels/{key}/")
    remote.run(
        f"set -e; rm -rf {venv}; python3 -m venv --system-site-packages {venv}; "
        f"if grep -qv '^\\s*\\(#\\|$\\)' {APP}/wheels/{key}/requirements.txt; then "
        f"{venv}/bin/pip install -q --no-index --find-links {APP}/wheels/{key} "
        f"-r {APP}/wheels/{key}/requirements.txt; fi; touch {venv}/.complete"
    )


def _env_prefix() -> str:
    return "set -a; . /etc/contrail/app.env; set +a; "


def _check_release(remote: Remote, cfg: DevConfig, rid: str, log: Path) -> None:
    """`_check`, its failure said as the push's."""
    try:
        _check(remote, cfg, rid)
    except ToolFailed as err:
        hint = apperror.hint_for(err.message)
        raise PushFailed(
            f"release {rid} failed its check on {remote.name}, nothing was switched: {err.message}"
            + (f" — {hint}" if hint else ""),
            f"the previous release keeps serving; log: {log}",
        ) from None


def _check(remote: Remote, cfg: DevConfig, rid: str) -> None:
    """Every module compiles, and the WSGI app (and Django's system checks) import, in the new release."""
    path = f"{APP}/releases/{rid}"
    probe = (
        "import compileall, re, sys\n"
        "if not compileall.compile_dir('.', quiet=1, rx=re.compile('/(venv|node_modules)/')):\n"
        "    sys.exit(1)\n"
        "sys.path.insert(0, '/srv/app/lib')\n"
        "import contrail_wsgi\n"
    )
    if cfg.app.framework == "django":
        probe += "from django.core.management import call_command\ncall_command('check', verbosity=0)\n"
    command = f"cd {path} && {_env_prefix()}CONTRAIL_APP_DIR={path} venv/bin/python -c {shlex.quote(probe)}"
    remote.run(command, what="the release check")


def _migrate_if_changed(remote: Remote, rid: str, digest: str, migrated: str) -> bool:
    """Migrations once (on the first app server), when their digest differs from the last one applied."""
    if migrated == digest:
        return False
    _manage(remote, rid, "migrate --noinput -v 0")
    remote.run(f"echo {digest} > {MIGRATED}")
    return True


def forget_migrations(project: Project, log: Path) -> None:
    """The database was replaced (`staging pull`): whatever was migrated before, the next push migrates."""
    remotes = connect(project, project.app_nodes, log)
    parallel(lambda r: r.run(f"rm -f {MIGRATED}", what="forgetting the migrations"), remotes)


def _manage(remote: Remote, rid: str, command: str) -> None:
    remote.run(f"cd {APP}/releases/{rid} && {_env_prefix()}venv/bin/python manage.py {command}")


def _static_links(webs: list[Remote]) -> set[str]:
    """Where each web node's /srv/static/current points (one digest each when all are in step)."""
    return set(parallel(lambda w: w.run("readlink /srv/static/current", check=False).stdout.strip(), webs))


def _publish_static(
    project: Project, first: Remote, webs: list[Remote], links: set[str], rid: str, digest: str
) -> bool:
    """collectstatic once (on the first app server) and copy the result to every web node, if the static
    sources' `digest` changed."""
    if links == {f"/srv/static/{digest}"}:
        return False
    built = f"{APP}/static/{digest}"
    first.run(
        f"test -d {built} || (cd {APP}/releases/{rid} && {_env_prefix()}STATIC_ROOT={built}.tmp "
        f"venv/bin/python manage.py collectstatic --noinput -v 0 && mv -T {built}.tmp {built})"
    )
    local = project.ws.state / "static" / digest
    local.mkdir(parents=True, exist_ok=True)
    first.rsync([f"{built}/"], f"{local}/", pull=True)

    def publish(web: Remote) -> None:
        web.rsync([f"{local}/"], f"/srv/static/{digest}/", options=["--delete"])
        link = f"/srv/static/.current-{rid}"
        web.run(f"ln -sfn /srv/static/{digest} {link} && mv -T {link} /srv/static/current")

    parallel(publish, webs)
    return True


SWITCH = ["contrail-switch", "--app-dir", APP, "--health-url", "http://127.0.0.1:8000/_contrail/health"]
SWITCH += ["--confirmations", str(CONFIRMATIONS), "--wait", str(HEALTH_WAIT), "--keep", str(KEEP_RELEASES)]


class Switches:
    """`contrail-switch --from-stdin` started on every app server once the push holds the lock (so that
    nothing competes with taking it), each saying what its server runs now (the upload's questions,
    Upload.QUESTION) and waiting to be told the release and whether its server is drained or the
    canary: the switch then costs one line on an open connection, while the release travels or the
    canary drains, instead of a command started on the server (by contrail-agent, or an ssh session and
    a fresh Python) on the critical path of a rolling push, one server after the other; and the
    questions cost no command of their own. One that ended before it was told (a box older than
    --from-stdin, a dropped connection) is replaced by a plain run (its exit status is in the push's
    log), and one that did not answer the questions (an older box's) by the question's command; those
    never told end when the push does, having done nothing."""

    def __init__(self, remotes: list[Remote], lock: Lock, pool: ThreadPoolExecutor) -> None:
        self.starting = pool.submit(self._start, remotes, lock)
        self.said: dict[str, str] = {}  # server → what its switch said before `ready` (its answers)

    @staticmethod
    def _start(remotes: list[Remote], lock: Lock) -> dict[str, Held]:
        try:
            lock.wait()
        except PushFailed:
            return {}
        return {remote.name: agent.hold(remote, [*SWITCH, "--from-stdin"]) for remote in remotes}

    def _ready(self, remote: Remote) -> Held | None:
        """The switch on `remote` once it has said `ready` (None when it ended instead); what it said
        before that is kept in `said`. (Each server's switch is used by one thread at a time: its
        upload's, then the switch's.)"""
        waiting = self.starting.result()
        session = waiting.get(remote.name)
        if remote.name not in self.said:
            lines: list[str] = []
            try:
                if session:
                    session.expect("ready", lines.append)
            except ToolFailed:  # (what it said before it ended is not trusted: the question is asked)
                waiting.pop(remote.name).close(timeout=0)
                session, lines = None, []
            self.said[remote.name] = "\n".join(lines)
        return session

    def live(self, remote: Remote) -> str:
        """What the switch on `remote` said its server runs now ("" when it said nothing)."""
        self._ready(remote)
        return self.said[remote.name]

    def take(self, remote: Remote) -> Held | None:
        """The switch waiting on `remote` once it says it is ready, once (None when it ended instead)."""
        return self.starting.result().pop(remote.name, None) if self._ready(remote) else None

    def close(self) -> None:
        """The switches never told, ended (each exits at once: nothing was switched)."""
        waiting = self.starting.result()
        for session in waiting.values():
            session.end()
        for session in waiting.values():
            session.close()
        waiting.clear()


def _switch(
    remote: Remote, rid: str, drained: bool = False, canary: bool = False, switches: Switches | None = None
) -> None:
    """`contrail-switch` in the app box (provision_scripts/contrail-files/contrail-switch): atomic
    `current` switch (ln + mv -T); Gunicorn HUP (or a restart when the venv changed); wait until the
    health endpoint reports the new release CONFIRMATIONS times in a row (a worker of the old release
    may still answer one); prune old releases in the background. One switch at a time per server
    (flock): a switch left running by a push that was killed finishes first. A server already serving
    `rid` from `current` is left alone, so switching back after a failure is safe to repeat.

    A `drained` server first waits until its in-flight requests are done (Nginx's old workers gone); a
    `canary`'s page must then answer without a server error (an import check cannot see errors that
    happen only when a request runs), else the app's last error is named. With `switches`, the one
    started on this server ahead of time is told to switch."""
    told = [rid, *(["--idle-wait", str(DRAIN_WAIT)] if drained else [])]
    told += ["--page-wait", str(CANARY_WAIT)] if canary else []
    waiting = switches.take(remote) if switches else None
    try:
        if waiting:
            waiting.tell(shlex.join(told), what="contrail-switch")
        else:
            remote.run(shlex.join([*SWITCH, *told]), what="contrail-switch")
    except ToolFailed as err:
        # The app's log says why: a Tomcat that did not start the release (its manager only says that it
        # failed), or the error behind the canary's page (the log's text itself stays out of Contrail's logs)
        tail = remote.run(f"sudo tail -n 400 {APP_LOG}", check=False, private=True, timeout=STATUS_WAIT).stdout
        deploy_error = apperror.deploy_error(tail, rid)
        if deploy_error:
            raise ToolFailed(f"{err.message} — Tomcat's log: {deploy_error.describe()}", err.hint) from None
        error = apperror.last_error(tail) if canary else None
        if error:
            hint = f"the app's log: `contrail logs {remote.name}`"
            raise ToolFailed(f"{err.message}: {error.describe()}", hint) from None
        raise


def catch_up(cfg: DevConfig, on_node: Callable[[str, str], None], ssh_ready: Callable[[], object]) -> list[str]:
    """App servers that wait with no release while others serve one (created, or recreated by `vagrant
    destroy` + `contrail up`; their configure step left Gunicorn stopped, so they take no traffic) get
    the release most app servers serve — its code and its venv's wheels copied from one that serves it
    — and are started on it. Returns their names. Asks the app servers over HTTP first: only when one
    waits does it wait for `ssh_ready` and connect."""
    served = {n.name: _served(n.ip) for n in topology.by_role(cfg, "app")}
    live = Counter(r for r in served.values() if r not in ("", "placeholder", "none"))
    if not live or all(r for r in served.values()):
        return []
    rid = live.most_common(1)[0][0]
    ssh_ready()
    project = Project.load(cfg.project_dir)
    log = project.ws.new_log("catch-up")
    remotes = {r.name: r for r in connect(project, project.app_nodes, log)}
    waiting = [
        remotes[name]
        for name, release_served in served.items()
        if not release_served and remotes[name].run(f"readlink {APP}/current").stdout.strip().endswith("/placeholder")
    ]
    if not waiting:
        return []
    source = remotes[next(name for name, r in served.items() if r == rid)]
    lock = _lock(remotes[project.app_nodes[0].name], "catch-up")
    try:
        for remote in waiting:
            on_node(remote.name, f"getting release {rid} from {source.name}")
        # (a Tomcat's release has no venv: its .war is all of it)
        venv = source.run(f"readlink {APP}/releases/{rid}/venv", check=False).stdout.strip()
        key = Path(venv).name if venv else ""
        with tempfile.TemporaryDirectory(prefix="contrail-catch-up-") as tmp:
            if key:
                source.rsync([f"{APP}/wheels/{key}/"], f"{tmp}/wheels/", pull=True)
            source.rsync([f"{APP}/releases/{rid}/"], f"{tmp}/release/", pull=True)

            def deliver(remote: Remote) -> None:
                if key:
                    _install_venv(remote, key, Path(tmp) / "wheels")
                remote.rsync([f"{tmp}/release/"], f"{APP}/releases/{rid}/")
                _switch(remote, rid)
                on_node(remote.name, f"serving release {rid}")

            parallel(deliver, waiting)
    finally:
        lock.close()
    return [r.name for r in waiting]


def _served(ip: str) -> str:
    """The release an app server's health endpoint reports ("" when nothing answers)."""
    status, body = http_get(f"http://{ip}:8000/_contrail/health", timeout=1)
    return json_field(body, "release") if status == 200 else ""


def _switch_release(
    project: Project,
    remotes: list[Remote],
    webs: list[Remote],
    rid: str,
    previous: list[str],
    restarts: list[bool],
    switches: Switches,
    rolling: bool,
    canary_drain: list[Session] | None = None,
) -> None:
    """The pushed release live on every server, rolling or all at once; one that failed to go live is
    removed from every server (each is back on its previous release)."""
    try:
        if rolling or any(restarts):
            # A new venv restarts the Gunicorn masters, which closes their listening sockets: one server
            # at a time, drained first, even for --all-at-once.
            _rolling_switch(
                project, remotes, webs, rid, previous, restarts, switches, canary=rolling, canary_drain=canary_drain
            )
        else:
            _switch_all(remotes, rid, previous, switches)
    except PushFailed:
        _remove_releases(remotes, [rid])
        raise


def _switch_all(remotes: list[Remote], rid: str, previous: list[str], switches: Switches) -> None:
    """Every server at once (a HUP is graceful on its own); if any fails, every server goes back."""

    def attempt(remote: Remote) -> ToolFailed | None:
        try:
            _switch(remote, rid, switches=switches)
        except ToolFailed as err:
            return err
        return None

    failures = [err for err in parallel(attempt, remotes) if err]
    if failures:
        _switch_back(remotes, previous)
        raise PushFailed(
            f"release {rid} failed to go live: {failures[0].message}",
            "every app server is back on its previous release",
        )


def _switch_back(remotes: list[Remote], previous: list[str]) -> None:
    """Each server back on the release it served before this push (a no-op where it never moved)."""
    parallel(lambda pair: _switch(*pair), list(zip(remotes, previous, strict=True)))


def _rolling_switch(
    project: Project,
    remotes: list[Remote],
    webs: list[Remote],
    rid: str,
    previous: list[str],
    restarts: list[bool],
    switches: Switches | None,
    canary: bool,
    canary_drain: list[Session] | None = None,
) -> None:
    """Each app server in turn, switched and healthy on release `rid` before the next (a push's new one,
    or a rollback's older one); the first is the canary (unless `canary` is off: requirements changed
    under --all-at-once; `canary_drain`: it was drained already). If any server fails, every server
    switched so far goes back to its previous release.

    Drained from every Nginx first: the canary (it takes no traffic until its page has answered on the
    new release), and a server whose Gunicorn restarts (`restarts`: its venv changes), since the old
    master closes its listening socket. Any other server needs no drain: on a HUP the socket stays
    open, old workers finish their requests and new ones accept the next. A lone app server is never
    drained (Nginx would have nowhere to send requests)."""
    ips = {n.name: n.ip for n in project.app_nodes}
    restoring: list[Session] = []  # a server put back while the next one switches (if that one stays in)
    try:
        for index, remote in enumerate(remotes):
            drain = (restarts[index] or (canary and index == 0)) and len(remotes) > 1
            if drain:
                _undrain(restoring)  # never two servers out of rotation at once
                restoring = []
            drained: list[Session] = []
            try:
                if drain:
                    drained = canary_drain if canary and index == 0 and canary_drain else _drain(webs, ips[remote.name])
                _switch(remote, rid, drained=drain, canary=canary and index == 0, switches=switches)
            except ToolFailed as err:
                _switch_back(remotes[: index + 1], previous[: index + 1])
                if canary and index == 0:
                    raise PushFailed(
                        f"canary {remote.name} failed on release {rid}: {err.message}",
                        f"{remote.name} is back on {previous[0]}; the other app servers were not touched",
                    ) from None
                raise PushFailed(
                    f"release {rid} failed to go live on {remote.name}: {err.message}",
                    f"{', '.join(r.name for r in remotes[: index + 1])} are back on their previous release; "
                    "the others were not touched",
                ) from None
            finally:
                for session in drained:
                    session.end()
                restoring += drained
    finally:
        _undrain(restoring)


def _wait_front_door(project: Project, log: Path, done: str) -> None:
    """Until HAProxy's checks see every web node UP, after a push or a rollback (`done` says which). A
    restarted lone app server (a new venv) can take the web nodes out of rotation for a few seconds
    after its own health endpoint answers again, and "live" means served by the front door, as the
    next request (or a CI job's check) expects."""
    deadline = time.monotonic() + FRONT_DOOR_WAIT
    proxies = topology.by_role(project.cfg, "proxy")
    local = len(proxies) == 1 and project.env.explicit_ssh_config is None
    for proxy in connect(project, proxies, log):
        while True:
            stats = _proxy_stats(project, proxy, local)
            waiting = [s for s in stats if s.proxy == "web" and not s.in_rotation]
            if not waiting:
                break
            if time.monotonic() > deadline:
                states = ", ".join(f"{s.server} {s.status}" for s in waiting)
                raise PushFailed(
                    f"{done}, but HAProxy on {proxy.name} still has {states} after {FRONT_DOOR_WAIT} s",
                    "`contrail status` shows each node; `fab logs --node web1` the web node's log",
                )
            time.sleep(0.2)


def _proxy_stats(project: Project, proxy: Remote, local: bool) -> list[haproxy_stats.ServerStat]:
    """HAProxy's stats: from its stats page on the host's loopback when `local` (an HTTP request instead
    of an ssh session, sudo and nc on the proxy, at the end of every push), else, or when that page
    does not answer, from its admin socket."""
    answered = answered_proxy_stats(project.cfg) if local else None
    if answered is not None:
        return answered
    stat = proxy.run("echo 'show stat' | sudo nc -U /run/haproxy/admin.sock", what="HAProxy's stats")
    return haproxy_stats.parse(stat.stdout)


def _drain(webs: list[Remote], ip: str) -> list[Session]:
    """`ip` out of every web node's Nginx upstream for as long as the returned sessions stay open."""
    command = shlex.join(["sudo", UPSTREAM, "hold", ip, str(DRAIN_LIMIT)])
    sessions = [web.hold(command) for web in webs]
    try:
        for session in sessions:
            session.expect("drained")
    except ToolFailed:
        _undrain(sessions)
        raise
    return sessions


def _drain_when_locked(lock: Lock, webs: list[Remote], ip: str) -> list[Session]:
    lock.wait()
    return _drain(webs, ip)


def _undrain(sessions: list[Session]) -> None:
    """Back in every upstream: end every session, then wait until each has restored its Nginx."""
    for session in sessions:
        session.end()
    for session in sessions:
        session.close()


def _lock(first: Remote, kind: str, on_wait: Callable[[str], None] = lambda holder: None) -> Held:
    """The environment's push lock (a flock on the first app server), held until the session closes. A
    push that finds it taken tells `on_wait` by whom and waits for it; after LOCK_WAIT it gives up."""
    session = _ask_lock(first, kind)
    try:
        _await_lock(session, on_wait)
    except PushFailed:
        session.close(timeout=0)
        raise
    return session


def _ask_lock(first: Remote, kind: str) -> Held:
    """The lock asked for (`_await_lock` waits until it is held)."""
    since = datetime.datetime.now().strftime("%H:%M:%S")
    who = f"{getpass.getuser()}@{socket.gethostname()} ({kind}, pid {os.getpid()}, since {since})"
    return agent.hold(
        first, ["contrail-push", "lock", "--who", who, "--wait", str(LOCK_WAIT), "--limit", str(LOCK_LIMIT)]
    )


def _await_lock(session: Held, on_wait: Callable[[str], None]) -> None:
    def waiting(line: str) -> None:
        if line.startswith("busy "):
            on_wait(line[5:] or "another user")

    try:
        session.expect("locked", waiting)
    except ToolFailed as err:
        raise PushFailed(f"another push holds the lock: {err.message}", "try again when it has ended") from None


APP_LOG = "/var/log/supervisor/app.log"


def rollback(project: Project, on_wait: Callable[[str], None] = lambda holder: None) -> str:
    """Every app server back to the release before the live one, the way a rolling push goes live: under
    the push lock (`on_wait(holder)` while another push holds it), the first server a canary, a server
    whose Gunicorn restarts (the older release has another venv) drained first, and every server put
    back if one fails. Refused before anything moves when a server lacks that release. The release left
    is removed (its code is the project's to push again), so a push and then a rollback go back to what
    was live before the push. Says what moved."""
    log = project.ws.new_log("rollback")
    remotes = connect(project, project.app_nodes, log)
    lock = _lock(remotes[0], "rollback", on_wait)
    try:
        held = parallel(lambda r: Releases.read(r.run(Releases.QUESTION).stdout), remotes)
        target = rollback_target({r.name: h for r, h in zip(remotes, held, strict=True)})
        previous = [h.current for h in held]
        restarts = [h.venvs.get(h.current, "") != h.venvs[target] for h in held]
        webs = connect(project, project.web_nodes, log)
        _rolling_switch(project, remotes, webs, target, previous, restarts, None, canary=True)
        left = sorted(set(previous) - {target})
        _remove_releases(remotes, left)  # (as Capistrano does: the next rollback goes further back)
        _wait_front_door(project, log, f"rolled back to {target}")
    finally:
        lock.close()
    return f"release {target} live on {len(remotes)} app servers ({', '.join(left)} removed)"


@dataclass(frozen=True)
class Releases:
    """The releases an app server holds: the one `current` names, each one's venv, and those that went
    live on it (contrail-switch marks them; not one a killed or failed push left, maybe incomplete)."""

    current: str
    venvs: dict[str, str]  # release id → its venv ("" for a Tomcat's release, which has none)
    served: frozenset[str]

    # `current` as readlink prints it, then a line per release: its directory, `served` or `-`, its venv
    QUESTION = (
        f'readlink {APP}/current; for d in {APP}/releases/2*/; do [ -d "$d" ] && echo "$d '
        f'$([ -e "${{d}}{SERVED}" ] && echo served || echo -) $(readlink "${{d}}venv")"; done; true'
    )

    @classmethod
    def read(cls, answer: str) -> Releases:
        lines = answer.splitlines()
        current = Path(lines[0].strip()).name if lines else ""
        venvs, served = {}, set()
        for line in lines[1:]:
            directory, mark, venv = [*line.split(" ", 2), "", ""][:3]
            name = Path(directory).name
            venvs[name] = venv.strip()
            if mark == "served":
                served.add(name)
        return cls(current, venvs, frozenset(served))


def rollback_target(servers: dict[str, Releases]) -> str:
    """The newest release before the live one (the one most servers' `current` names) that went live,
    which every server must hold: PushFailed, naming what is missing, when there is none or a server
    lacks it (a server created after it went live got only the live release). On boxes whose switch
    marks no release (built before it did), every release counts as having gone live."""
    live = Counter(s.current for s in servers.values()).most_common(1)[0][0]
    if not live[:1].isdigit():  # release ids start with the year; a fresh server's is "placeholder"
        raise PushFailed("nothing to roll back to: no release has been pushed yet", "`fab push` puts one live")
    marked = any(s.served for s in servers.values())
    older = sorted({rid for s in servers.values() for rid in (s.served if marked else s.venvs) if rid < live})
    if not older:
        raise PushFailed(f"nothing to roll back to: no release that went live before {live} is kept")
    target = older[-1]
    lacking = [name for name, s in servers.items() if target not in s.venvs]
    if lacking:
        raise PushFailed(
            f"{', '.join(lacking)} {'lacks' if len(lacking) == 1 else 'lack'} release {target}, the one before "
            f"{live}: nothing was rolled back",
            "an app server created since that release went live holds the live one alone: "
            "check out the older code and `fab push` it instead",
        )
    return target


def migrate(project: Project, on_wait: Callable[[str], None] = lambda holder: None) -> tuple[str, str]:
    """Migrations of the live release applied (on the first app server, under the push lock: a push may
    be migrating); (release, server). What is recorded as migrated is the live release's migrations, not
    the project's: a migration written since the last push is applied by the next one."""
    if project.cfg.app.framework != "django":
        raise ContrailError('migrate is for Django apps (app.framework = "django")')
    remote = connect(project, project.app_nodes, project.ws.new_log("migrate"))[0]
    lock = _lock(remote, "migrate", on_wait)
    try:
        current = Path(remote.run(f"readlink {APP}/current").stdout.strip()).name
        _manage(remote, current, "migrate --noinput")
        # (a release pushed before releases carried their digest: the next push migrates again)
        remote.run(f"cp {APP}/current/{MIGRATIONS} {MIGRATED} 2>/dev/null || rm -f {MIGRATED}")
    finally:
        lock.close()
    return current, remote.name


@dataclass(frozen=True)
class PushState:
    holder: str  # who holds the push lock, since when ("" when no push runs)
    out: dict[str, list[str]]  # app server → on which web nodes it is out of rotation, why, since when


REASONS = {"drained": "drained by a push", "unhealthy": "health checks fail"}


def push_state(project: Project) -> PushState:
    """The push in progress, and the app servers out of some web node's rotation (read on the nodes)."""
    log = project.ws.new_log("status")
    first = connect(project, project.app_nodes[:1], log)[0]
    holder = first.run("contrail-push holder", check=False, timeout=STATUS_WAIT).stdout.strip()

    def read(web: Remote) -> tuple[str, str]:
        return web.name, web.run(f"{UPSTREAM} list", check=False, timeout=STATUS_WAIT).stdout

    listings = parallel(read, connect(project, project.web_nodes, log))
    return PushState(holder, out_of_rotation(listings, {n.ip: n.name for n in project.app_nodes}))


def out_of_rotation(listings: list[tuple[str, str]], names: dict[str, str]) -> dict[str, list[str]]:
    """App server → on which web nodes it is out, why, since when: from each web node's `contrail-upstream
    list` (REASON IP SINCE lines); `names` maps app servers' addresses to their names."""
    out: dict[str, list[str]] = {}
    for web, listing in listings:
        for reason, ip, since in (line.split() for line in listing.splitlines() if len(line.split()) == 3):
            if reason not in REASONS:
                continue
            at = datetime.datetime.fromtimestamp(int(since)).strftime("%H:%M:%S") if since.isdigit() else "?"
            out.setdefault(names.get(ip, ip), []).append(f"{web} ({REASONS[reason]} since {at})")
    return out
