"""The team's services as one Vagrant environment in `team/`: `contrail team init`, `team up`.

Today it holds the staging databases (PostgreSQL from the db box, MariaDB from db-mariadb) that
`contrail staging refresh` loads with anonymised production data. contrail-team.toml is the input;
the Vagrantfile and configure scripts are rendered from it (cookiecutters/team), like startdev's.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import vagrant

from contrail import config, devenv, machines, render, secrets, topology, wheelhouse
from contrail.anonymise import Rule, parse_rules
from contrail.config import DevConfig, Field
from contrail.errors import ConfigError, ContrailError
from contrail.images import BoxStore
from contrail.remote import Remote, control_dir
from contrail.tools import docker
from contrail.tools.run import run
from contrail.workspace import Workspace

TEMPLATE = Path(__file__).resolve().parent.parent / "cookiecutters" / "team"
FILENAME = "contrail-team.toml"
DIRNAME = "team"
SECRET_NAMES = (
    "staging_postgresql_password",
    "staging_mysql_password",
    "anonymise_salt",
    "ci_worker_password",
    "ci_admin_password",
    "ci_hook_password",
    "staging_stats_password",
    "staging_django_secret_key",
)
CI_KEY = "ci_ed25519"
REPOSITORY = (re.compile(r"[a-z0-9][a-z0-9._-]{0,62}"), "must be repository names (lowercase letters, digits, . _ -)")
_USER = re.compile(r"[a-z][a-z0-9._-]{0,30}")
_PUBLIC_KEY = re.compile(r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-[a-z0-9-]+) [A-Za-z0-9+/=]+( [^\n\r]*)?")
SCHEMA: config.Schema = {
    "team": {
        "name": Field(str, pattern=config.SLUG),
        "namespace": Field(str, "contrail", pattern=config.NAMESPACE),
        "subnet": Field(str, ""),
    },
    "scm": {"enabled": Field(bool, True), "repositories": Field(list, ["app"], pattern=REPOSITORY)},
    "apt_cache": {"enabled": Field(bool, True), "port": Field(int, 3143, 1024, 65535)},
    "ci": {
        "enabled": Field(bool, True),
        # a command by design (the team's own): it reaches master.cfg as a JSON string, run by a shell
        "test": Field(str, "python3 -m unittest discover -v"),
        "deploy_branch": Field(str, "main", pattern=config.BRANCH),
    },
    "staging": {
        "postgresql": Field(bool, True),
        "mysql": Field(bool, True),
        "database": Field(str, "app", pattern=config.IDENTIFIER),
        "user": Field(str, "app", pattern=config.IDENTIFIER),
        "app": Field(bool, True),
        "wsgi": Field(str, "app:application", pattern=config.WSGI),
        "django_settings": Field(str, "", pattern=config.SETTINGS),
    },
}


@dataclass(frozen=True)
class Node:
    name: str
    role: str  # the box
    configure: str  # the configure script, relative to team/
    ip: str
    port: int
    engine: str
    topology_name: str = ""  # the staging app topology's name of the node (proxy, web1, app1)


@dataclass(frozen=True)
class TeamConfig:
    file: Path
    name: str
    namespace: str
    subnet: ipaddress.IPv4Network
    postgresql: bool
    mysql: bool
    database: str
    user: str
    rules: tuple[Rule, ...]
    scm: bool = True
    repositories: tuple[str, ...] = ("app",)
    users: tuple[tuple[str, str], ...] = ()  # (name, public key) of everyone who pushes
    ci: bool = True
    test_command: str = "python3 -m unittest discover -v"
    deploy_branch: str = "main"
    staging_app: bool = True
    apt_cache: bool = True
    apt_cache_port: int = 3143  # on the host's 127.0.0.1
    wsgi: str = "app:application"
    django_settings: str = ""

    @property
    def dir(self) -> Path:
        return self.file.parent

    @property
    def state(self) -> Path:
        return self.dir / ".contrail"

    def nodes(self) -> list[Node]:
        hosts = list(self.subnet.hosts())
        nodes = []
        if self.postgresql:
            nodes.append(
                Node("staging-postgresql", "db", "configure/staging-postgresql.sh", str(hosts[4]), 5432, "postgresql")
            )
        if self.mysql:
            nodes.append(
                Node("staging-mysql", "db-mariadb", "configure/staging-mysql.sh", str(hosts[5]), 3306, "mysql")
            )
        if self.scm:
            nodes.append(Node("scm", "scm", "configure/scm.sh", str(hosts[6]), 80, "git"))
        if self.ci:
            nodes.append(Node("ci", "ci", "configure/ci.sh", str(hosts[7]), 8010, "buildbot"))
        if self.apt_cache:
            nodes.append(Node("apt-cache", "apt-cache", "configure/apt-cache.sh", str(hosts[8]), 3142, "apt"))
        if self.staging_topology:
            # The staging app topology (the devenv's roles and configure scripts) on the team's network; its
            # database node is staging-postgresql, at the address the topology gives it (.5).
            ports = {"proxy": 80, "web": 80, "app": 8000}
            nodes += [
                Node(
                    f"staging-{n.name}",
                    n.role,
                    f"staging/devenv/configure/{n.role}.sh",
                    n.ip,
                    ports[n.role],
                    "http",
                    n.name,
                )
                for n in topology.nodes(staging_devconfig(self))
                if n.role != "db"
            ]
        return nodes

    @property
    def staging_topology(self) -> bool:
        """A staging app topology runs (it needs the staging PostgreSQL)."""
        return self.staging_app and self.postgresql

    def service(self, role: str) -> Node:
        return next(n for n in self.nodes() if n.role == role)

    def address(self, role: str) -> str:
        return next((n.ip for n in self.nodes() if n.role == role), "")

    def node(self, engine: str) -> Node:
        found = next((n for n in self.nodes() if n.engine == engine), None)
        if found is None:
            raise ConfigError(
                f"{config.where(self.file, 'staging', engine)}: the team has no {engine} staging database",
                f"set staging.{engine} = true, then `contrail team init` and `contrail team up`",
            )
        return found


def load(file: Path) -> TeamConfig:
    text, data = config.read_toml(file)
    for table in data:
        if table not in (*SCHEMA, "anonymise", "users"):
            raise ConfigError(f"{file}:{config.line_of(text, table)}: unknown table [{table}]")
    values = {t: config.table_values(file, text, t, data.get(t, {}), SCHEMA) for t in SCHEMA}
    team, staging = values["team"], values["staging"]
    try:
        subnet = ipaddress.IPv4Network(team["subnet"] or config.default_subnet(f"team-{team['name']}"))
    except ValueError as err:
        raise config.error_at(file, text, "team", "subnet", f"is not a network: {err}") from None
    users = data.get("users", {})
    if not isinstance(users, dict):
        raise ConfigError(f'{file}:{config.line_of(text, "users")}: users must be a table of name = "ssh-ed25519 …"')
    for user, key in users.items():
        if not _USER.fullmatch(user) or user in ("admin", "ci"):
            raise config.error_at(file, text, "users", user, "must be a lowercase login name (admin and ci are taken)")
        if not isinstance(key, str) or not _PUBLIC_KEY.fullmatch(key):
            raise config.error_at(file, text, "users", user, "must be an SSH public key (ssh-ed25519 AAAA…)")
    return TeamConfig(
        file=file,
        name=team["name"],
        namespace=team["namespace"],
        subnet=subnet,
        postgresql=staging["postgresql"],
        mysql=staging["mysql"],
        database=staging["database"],
        user=staging["user"],
        rules=tuple(parse_rules(file, text, data.get("anonymise"))),
        scm=values["scm"]["enabled"],
        repositories=tuple(values["scm"]["repositories"]),
        users=tuple(sorted(users.items())),
        ci=values["ci"]["enabled"],
        test_command=values["ci"]["test"],
        deploy_branch=values["ci"]["deploy_branch"],
        staging_app=staging["app"],
        apt_cache=values["apt_cache"]["enabled"],
        apt_cache_port=values["apt_cache"]["port"],
        wsgi=staging["wsgi"],
        django_settings=staging["django_settings"],
    )


def staging_devconfig(cfg: TeamConfig) -> DevConfig:
    """The staging app topology as a development environment's configuration: 1 proxy, 1 web, 1 app on
    the team's network; its db is the team's staging PostgreSQL (both at .5)."""
    folder = cfg.dir / "staging"
    return DevConfig(
        file=folder / config.FILENAME,
        name=f"{cfg.name}-staging"[:31],
        provider="docker",
        host_port=8080,
        stats_port=8404,
        subnet=cfg.subnet,
        namespace=cfg.namespace,
        web=1,
        app_nodes=1,
        app=config.AppSettings(
            folder,
            "django" if cfg.django_settings else "wsgi",
            cfg.wsgi,
            cfg.django_settings,
            folder / "requirements.txt",
            2,
        ),
        db_engine="postgresql",
        db_name=cfg.database,
        db_user=cfg.user,
        cache_nodes=0,
    )


def find(start: Path) -> TeamConfig:
    """The team configuration in `start`, or in `start`/team/."""
    for candidate in (start / FILENAME, start / DIRNAME / FILENAME):
        if candidate.exists():
            return load(candidate)
    raise ContrailError(f"no {FILENAME} in {start} or {start / DIRNAME}", "run `contrail team init` first")


def init(cwd: Path, name: str | None, force: bool) -> tuple[TeamConfig, list[str]]:
    """Render team/ (Vagrantfile, contrail-team.toml, configure scripts) atomically."""
    folder = cwd / DIRNAME
    toml = folder / FILENAME
    fresh = not toml.exists()
    if fresh:
        team_name = name or config.slug(f"team-{cwd.name}")
        cfg = TeamConfig(
            toml,
            team_name,
            os.environ.get("CONTRAIL_NAMESPACE", "contrail"),
            ipaddress.IPv4Network(config.default_subnet(team_name)),
            True,
            True,
            "app",
            "app",
            (),
        )
    else:
        cfg = load(toml)
    images = _images(cfg)
    with tempfile.TemporaryDirectory(prefix="contrail-team-") as tmp:
        rendered = render.render(TEMPLATE, _context(cfg, images), Path(tmp) / "team", key="team")
        if cfg.staging_topology:
            _render_staging(cfg, images, rendered / "staging", Path(tmp) / "staging")
        if fresh:
            load(rendered / FILENAME)
        else:
            (rendered / FILENAME).unlink()
        files = render.files_of(rendered)
        render.refuse_user_changes(rendered, folder, cfg.state, files, force)
        secrets.ensure(cfg.state, SECRET_NAMES)
        secrets.ensure_ssh_key(cfg.state, f"contrail-{cfg.name}")
        secrets.ensure_ssh_key(cfg.state, f"contrail-{cfg.name}-ci", CI_KEY)
        written, _ = render.install(rendered, folder, cfg.state, files)
    (cfg.state / ".gitignore").write_text("*\n")
    return load(toml), written


def _render_staging(cfg: TeamConfig, images: dict[str, str], target: Path, scratch: Path) -> None:
    """The staging app topology's configure scripts, contrail.toml and fabfile.py: the devenv template,
    rendered for the team's network (CI copies contrail.toml and fabfile.py into a checkout to push)."""
    project = devenv.render_project(staging_devconfig(cfg), images, scratch)
    for name in ("contrail.toml", "fabfile.py", *(f"devenv/configure/{r}.sh" for r in ("proxy", "web", "app"))):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project / name, target / name)


def _images(cfg: TeamConfig) -> dict[str, str]:
    docker.server_version()
    store = BoxStore(cfg.namespace)
    images = {}
    needed = {node.role: node.name for node in cfg.nodes()}  # box → a machine that runs it
    if cfg.staging_topology:  # the devenv template names every box of its topology
        for box in topology.boxes(staging_devconfig(cfg)):
            needed.setdefault(box, "the staging topology")
    for role, user in needed.items():
        box = store.current(role)
        if box is None:
            raise ContrailError(
                f"no {role} box is built (namespace {cfg.namespace}) for {user}",
                f"run `contrail build-boxes {role}` first",
            )
        images[role] = box.ref
    return images


def _context(cfg: TeamConfig, images: dict[str, str]) -> dict[str, object]:
    return {
        "name": cfg.name,
        "namespace": cfg.namespace,
        "subnet": str(cfg.subnet),
        "db_name": cfg.database,
        "db_user": cfg.user,
        "scm_ip": cfg.address("scm"),
        "ci_ip": cfg.address("ci"),
        "repositories": list(cfg.repositories),
        "test_command": cfg.test_command,
        "deploy_branch": cfg.deploy_branch if cfg.staging_topology else "",
        "wheelhouse": CI_WHEELHOUSE,
        "nodes": [
            {
                "name": n.name,
                "role": n.role,
                "configure": n.configure,
                "ip": n.ip,
                "image": images[n.role],
                "topology": n.topology_name,
            }
            for n in cfg.nodes()
        ],
        "postgresql_ip": cfg.address("db"),
        "apt_cache_ip": cfg.address("apt-cache"),
        "apt_cache_port": cfg.apt_cache_port,
    }


def _vagrant(cfg: TeamConfig, log: Path) -> vagrant.Vagrant:
    stderr_to_log = vagrant.make_file_cm(str(log), mode="a")
    env = {**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_DEFAULT_PROVIDER": "docker"}
    return vagrant.Vagrant(root=str(cfg.dir), env=env, err_cm=stderr_to_log)


def workspace(cfg: TeamConfig) -> Workspace:
    return Workspace(cfg.dir, cfg.state)


def up(cfg: TeamConfig, timeout: float = 120) -> list[tuple[Node, bool]]:
    """`vagrant up --provision` of the team's machines, then each service's port answering."""
    log = workspace(cfg).new_log("team-up")
    machine = _vagrant(cfg, log)
    lines = machine.up(provider="docker", provision=True, stream_output=True)
    machines.stream_vagrant(lines, log, lambda node, text: None, "vagrant up of the team")
    write_ssh_config(cfg, machine)
    if cfg.scm:
        sync_scm(cfg, log)
    if cfg.ci:
        sync_wheels(cfg, log)
    if cfg.ci and cfg.staging_topology:
        prepare_ci_deploy(cfg, log)
    deadline = time.monotonic() + timeout
    report = []
    for node in cfg.nodes():
        while not _answers(node.ip, node.port) and time.monotonic() < deadline:
            time.sleep(0.2)
        report.append((node, _answers(node.ip, node.port)))
    return report


def git_ssh_config(cfg: TeamConfig) -> Path:
    """An ssh config for git as gitolite's admin (the team key), to push gitolite-admin."""
    node = next(n for n in cfg.nodes() if n.role == "scm")
    key = cfg.state / "ssh" / "id_ed25519"
    text = (
        f"Host scm-admin\n  HostName {node.ip}\n  User gitolite3\n  IdentityFile {key}\n  IdentitiesOnly yes\n"
        "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n"
    )
    target = cfg.state / "git_ssh_config"
    target.write_text(text)
    target.chmod(0o600)
    return target


def gitolite_conf(cfg: TeamConfig) -> str:
    users = " ".join(["admin", *(name for name, _ in cfg.users)])
    readers = "ci gitweb" if cfg.ci else "gitweb"
    return (
        "# Written by `contrail team up` from contrail-team.toml; edits here are replaced.\n"
        "repo gitolite-admin\n    RW+     =   admin\n\n"
        f"repo {' '.join(cfg.repositories)}\n    RW+     =   {users}\n    R       =   {readers}\n"
    )


def sync_scm(cfg: TeamConfig, log: Path) -> bool:
    """Push contrail-team.toml's repositories and users to gitolite-admin; True when something changed."""
    env = {"GIT_SSH_COMMAND": f"ssh -F {git_ssh_config(cfg)}", "GIT_TERMINAL_PROMPT": "0"}
    with tempfile.TemporaryDirectory(prefix="contrail-gitolite-") as tmp:
        admin = Path(tmp) / "gitolite-admin"
        run(["git", "clone", "-q", "scm-admin:gitolite-admin", str(admin)], log=log, env=env)
        (admin / "conf" / "gitolite.conf").write_text(gitolite_conf(cfg))
        keydir = admin / "keydir"
        for stale in keydir.glob("*.pub"):
            if stale.name != "admin.pub":
                stale.unlink()
        keys = list(cfg.users)
        if cfg.ci:
            keys.append(("ci", (cfg.state / "ssh" / f"{CI_KEY}.pub").read_text()))
        for name, key in keys:
            (keydir / f"{name}.pub").write_text(key.strip() + "\n")
        git = ["git", "-C", str(admin)]
        run([*git, "add", "-A"], log=log)
        if not run([*git, "status", "--porcelain"], log=log).output.strip():
            return False
        identity = ["-c", "user.name=contrail", "-c", f"user.email=contrail@{cfg.name}.invalid"]
        run([*git, *identity, "commit", "-q", "-m", "contrail team up: repositories and users"], log=log)
        run([*git, "push", "-q", "origin", "HEAD"], log=log, env=env)
    return True


CI_HOME = "/var/lib/buildbot"
CI_WHEELHOUSE = "/srv/wheelhouse"  # the Python packages CI's builds install (the ci box has no PyPI)


def prepare_ci_deploy(cfg: TeamConfig, log: Path) -> None:
    """What CI needs to push green builds to the staging topology, the same push path as `fab push`:
    Contrail in a venv (wheels built on the host: the box has no PyPI, cached by Contrail's own sources),
    the staging contrail.toml and fabfile.py, and an ssh config naming the staging nodes."""
    ci = remote(cfg, cfg.service("ci"), log)
    key, wheels = _contrail_wheels(cfg, log)
    if ci.run(f"cat {CI_HOME}/contrail/.wheels-key", check=False).stdout.strip() != key:
        ci.rsync([f"{wheels}/"], f"/tmp/contrail-wheels-{key}/", options=["--chmod=D755,F644"])
        ci.run(
            f"sudo -u buildbot sh -c 'rm -rf {CI_HOME}/contrail && python3 -m venv {CI_HOME}/contrail && "
            f"{CI_HOME}/contrail/bin/pip install -q --no-index --find-links /tmp/contrail-wheels-{key} contrail && "
            f"echo {key} > {CI_HOME}/contrail/.wheels-key' && rm -rf /tmp/contrail-wheels-{key}",
            what="installing Contrail on the ci box",
        )
    hosts = "".join(f"Host {n.topology_name}\n  HostName {n.ip}\n" for n in cfg.nodes() if n.topology_name)
    hosts += f"Host {topology.DATABASE_NODE}\n  HostName {cfg.address('db')}\n"
    ssh_config = (
        f"# Written by `contrail team up`: the staging topology, for CI's `fab push`.\n{hosts}"
        f"Host *\n  User vagrant\n  IdentityFile {CI_HOME}/.ssh/id_ed25519\n  IdentitiesOnly yes\n"
        "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
    )
    with tempfile.TemporaryDirectory(prefix="contrail-ci-staging-") as tmp:
        staging = Path(tmp) / "staging"
        staging.mkdir()
        for name in ("contrail.toml", "fabfile.py"):
            shutil.copy2(cfg.dir / "staging" / name, staging / name)
        (staging / "ssh_config").write_text(ssh_config)
        ci.rsync([f"{staging}/"], "/tmp/contrail-ci-staging/", options=["--chmod=D755,F644"])
    ci.run(
        f"sudo install -d -o buildbot -g buildbot {CI_HOME}/staging && "
        f"sudo install -o buildbot -g buildbot -m 0600 /tmp/contrail-ci-staging/* {CI_HOME}/staging/ && "
        "rm -rf /tmp/contrail-ci-staging",
        what="the staging files of CI",
    )


def wheelhouse_dir(cfg: TeamConfig) -> Path:
    return cfg.state / "wheelhouse"


def add_wheels(cfg: TeamConfig, requirements: list[Path], log: Path) -> list[str]:
    """Wheels of the requirements files, built here (this machine reaches PyPI, the team's boxes do not),
    added to the team's wheelhouse, then copied to the ci box if it runs. The names of the new wheels."""
    target = wheelhouse_dir(cfg)
    target.mkdir(parents=True, exist_ok=True)
    before = {wheel.name for wheel in target.glob("*.whl")}
    for file in requirements:
        run([*wheelhouse.pip_command(), "-r", str(file), "-w", str(target)], log=log)
    if cfg.ci and docker.container_ip(f"{cfg.name}-ci"):
        sync_wheels(cfg, log)
    return sorted({wheel.name for wheel in target.glob("*.whl")} - before)


def sync_wheels(cfg: TeamConfig, log: Path) -> None:
    """The team's wheelhouse onto the ci box (CI_WHEELHOUSE), where every build installs from."""
    source = wheelhouse_dir(cfg)
    if any(source.glob("*.whl")):
        ci = remote(cfg, cfg.service("ci"), log)
        ci.rsync([f"{source}/"], f"{CI_WHEELHOUSE}/", options=["--chmod=D755,F644"])


def _contrail_wheels(cfg: TeamConfig, log: Path) -> tuple[str, Path]:
    """Wheels of Contrail (this checkout) and of its dependencies, built on the host once per version."""
    source = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256((source / "pyproject.toml").read_bytes())
    for file in sorted((source / "contrail").rglob("*.py")):
        digest.update(file.read_bytes())
    key = digest.hexdigest()[:16]
    target = cfg.state / "ci-wheels" / key
    if not target.is_dir():
        partial = target.with_name(f".{key}.tmp")
        shutil.rmtree(partial, ignore_errors=True)
        run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(partial), str(source)], log=log)
        os.replace(partial, target)
    return key, target


def apt_cache_url(cfg: TeamConfig) -> str:
    """The team's apt cache as the host reaches it (builds: `--apt-cache URL`; environments: apt_cache)."""
    return f"http://127.0.0.1:{cfg.apt_cache_port}" if cfg.apt_cache else ""


def remotes(cfg: TeamConfig) -> list[str]:
    """What a developer runs to push to the team's scm."""
    node = next((n for n in cfg.nodes() if n.role == "scm"), None)
    return [f"git remote add team gitolite3@{node.ip}:{repo}" for repo in cfg.repositories] if node else []


def remove_disabled(cfg: TeamConfig) -> list[str]:
    """Remove the machines of services contrail-team.toml no longer enables (their data goes with them)."""
    return machines.remove_others(cfg.name, cfg.dir, {node.name for node in cfg.nodes()})


def destroy(cfg: TeamConfig) -> None:
    log = workspace(cfg).new_log("team-destroy")
    for name in docker.environment_containers(cfg.name):  # also machines of services disabled since
        docker.remove_container(name)
    _vagrant(cfg, log).destroy()
    ssh_config_path(cfg).unlink(missing_ok=True)


def ssh_config_path(cfg: TeamConfig) -> Path:
    return cfg.state / "ssh_config"


def write_ssh_config(cfg: TeamConfig, machine: vagrant.Vagrant) -> Path:
    return machines.save_ssh_config(machine, _control_dir(cfg), ssh_config_path(cfg))


def _control_dir(cfg: TeamConfig) -> Path:
    return control_dir(f"team-{cfg.name}")


def remote(cfg: TeamConfig, node: Node, log: Path) -> Remote:
    if not ssh_config_path(cfg).exists():
        raise ContrailError(f"the team's machines are not up ({cfg.dir})", "run `contrail team up` first")
    return Remote(node.name, ssh_config_path(cfg), _control_dir(cfg), log)


def _answers(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=1):
            return True
    except OSError:
        return False
