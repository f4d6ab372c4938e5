"""The team's services as one Vagrant environment in `team/`: `contrail team init`, `team up`.

Today it holds the staging databases (PostgreSQL from the db box, MariaDB from db-mariadb) that
`contrail staging refresh` loads with anonymised production data. contrail-team.toml is the input;
the Vagrantfile and configure scripts are rendered from it (cookiecutters/team), like startdev's.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import subprocess
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import vagrant

from contrail import config, render, secrets
from contrail.anonymise import Rule, parse_rules
from contrail.config import Field
from contrail.errors import ConfigError, ContrailError, ToolFailed
from contrail.images import BoxStore
from contrail.remote import Remote
from contrail.tools import docker
from contrail.tools.run import run
from contrail.workspace import Workspace

TEMPLATE = Path(__file__).resolve().parent.parent / "cookiecutters" / "team"
FILENAME = "contrail-team.toml"
DIRNAME = "team"
SECRET_NAMES = ("staging_postgresql_password", "staging_mysql_password", "anonymise_salt", "ci_worker_password")
CI_KEY = "ci_ed25519"
_REPO = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_USER = re.compile(r"^[a-z][a-z0-9._-]{0,30}$")
SCHEMA: config.Schema = {
    "team": {"name": Field(str), "namespace": Field(str, "contrail"), "subnet": Field(str, "")},
    "scm": {"enabled": Field(bool, True), "repositories": Field(list, ["app"])},
    "ci": {"enabled": Field(bool, True), "test": Field(str, "python3 -m unittest discover -v")},
    "staging": {
        "postgresql": Field(bool, True),
        "mysql": Field(bool, True),
        "database": Field(str, "app"),
        "user": Field(str, "app"),
    },
}


@dataclass(frozen=True)
class Node:
    name: str
    role: str  # the box
    configure: str  # the configure script
    ip: str
    port: int
    engine: str


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
            nodes.append(Node("staging-postgresql", "db", "staging-postgresql", str(hosts[4]), 5432, "postgresql"))
        if self.mysql:
            nodes.append(Node("staging-mysql", "db-mariadb", "staging-mysql", str(hosts[5]), 3306, "mysql"))
        if self.scm:
            nodes.append(Node("scm", "scm", "scm", str(hosts[6]), 80, "git"))
        if self.ci:
            nodes.append(Node("ci", "ci", "ci", str(hosts[7]), 8010, "buildbot"))
        return nodes

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
    text = file.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{file}: {err}") from None
    for table in data:
        if table not in (*SCHEMA, "anonymise", "users"):
            raise ConfigError(f"{file}:{config.line_of(text, table)}: unknown table [{table}]")
    values = {t: config.table_values(file, text, t, data.get(t, {}), SCHEMA) for t in SCHEMA}
    team, staging = values["team"], values["staging"]
    try:
        subnet = ipaddress.IPv4Network(team["subnet"] or config.default_subnet(f"team-{team['name']}"))
    except ValueError as err:
        raise config.error_at(file, text, "team", "subnet", f"is not a network: {err}") from None
    for repository in values["scm"]["repositories"]:
        if not _REPO.match(repository):
            raise config.error_at(file, text, "scm", "repositories", f"{repository!r} is not a repository name")
    users = data.get("users", {})
    for user, key in users.items():
        if not _USER.match(user) or user in ("admin", "ci"):
            raise config.error_at(file, text, "users", user, "must be a lowercase login name (admin and ci are taken)")
        if not isinstance(key, str) or not re.match(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-\S+) [A-Za-z0-9+/=]+", key):
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
        rendered = render.render(TEMPLATE, _context(cfg, images), Path(tmp), key="team")
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


def _images(cfg: TeamConfig) -> dict[str, str]:
    docker.server_version()
    store = BoxStore(cfg.namespace)
    images = {}
    for node in cfg.nodes():
        box = store.current(node.role)
        if box is None:
            raise ContrailError(
                f"no {node.role} box is built (namespace {cfg.namespace}) for {node.name}",
                f"run `contrail build-boxes {node.role}` first",
            )
        images[node.role] = box.ref
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
        "nodes": [{"name": n.name, "configure": n.configure, "ip": n.ip, "image": images[n.role]} for n in cfg.nodes()],
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
    try:
        for _ in machine.up(provider="docker", provision=True, stream_output=True):
            pass
    except subprocess.CalledProcessError as err:
        raise ToolFailed(f"vagrant up of the team failed (status {err.returncode})", f"log: {log}") from None
    write_ssh_config(cfg, machine)
    if cfg.scm:
        sync_scm(cfg, log)
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


def remotes(cfg: TeamConfig) -> list[str]:
    """What a developer runs to push to the team's scm."""
    node = next((n for n in cfg.nodes() if n.role == "scm"), None)
    return [f"git remote add team gitolite3@{node.ip}:{repo}" for repo in cfg.repositories] if node else []


def destroy(cfg: TeamConfig) -> None:
    log = workspace(cfg).new_log("team-destroy")
    for node in cfg.nodes():
        docker.remove_container(f"{cfg.name}-{node.name}")
    _vagrant(cfg, log).destroy()
    ssh_config_path(cfg).unlink(missing_ok=True)


def ssh_config_path(cfg: TeamConfig) -> Path:
    return cfg.state / "ssh_config"


def write_ssh_config(cfg: TeamConfig, machine: vagrant.Vagrant) -> Path:
    control = _control_dir(cfg)
    control.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = machine.ssh_config() + f"\nHost *\n  ControlMaster auto\n  ControlPath {control}/%C\n  ControlPersist 600\n"
    target = ssh_config_path(cfg)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    os.replace(tmp, target)
    return target


def _control_dir(cfg: TeamConfig) -> Path:
    return Path(tempfile.gettempdir()) / f"contrail-ssh-{cfg.name}"


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
