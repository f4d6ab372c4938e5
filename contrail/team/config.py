"""The team's configuration (contrail-team.toml: its schema, loader and the nodes it makes) and the
Environment of its machines."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from contrail import config, topology
from contrail.config import DevConfig, Field
from contrail.environment.core import Environment
from contrail.environment.providers import provider
from contrail.errors import ConfigError, ContrailError
from contrail.staging.anonymise import Rule, parse_rules
from contrail.topology import Node
from contrail.workspace import Workspace, state_dir

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
        return state_dir(self.dir)

    def nodes(self) -> list[Node]:
        hosts = list(self.subnet.hosts())
        services = [
            (self.postgresql, "staging-postgresql", "db", "db", 4, 5432, "postgresql"),
            (self.mysql, "staging-mysql", "db", "db-mariadb", 5, 3306, "mysql"),
            (self.scm, "scm", "scm", "", 6, 80, "git"),
            (self.ci, "ci", "ci", "", 7, 8010, "buildbot"),
            (self.apt_cache, "apt-cache", "apt-cache", "", 8, 3142, "apt"),
        ]
        nodes = [
            Node(name, role, str(hosts[host]), box, port, engine, f"configure/{name}.sh")
            for enabled, name, role, box, host, port, engine in services
            if enabled
        ]
        if self.staging_topology:
            # The staging app topology (the devenv's roles and configure scripts) on the team's network; its
            # database node is staging-postgresql, at the address the topology gives it (.5).
            ports = {"proxy": 80, "web": 80, "app": 8000}
            nodes += [
                Node(
                    f"staging-{n.name}",
                    n.role,
                    n.ip,
                    port=ports[n.role],
                    engine="http",
                    configure=f"staging/devenv/configure/{n.role}.sh",
                    topology_name=n.name,
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
        """The address of the (first) node of `role` ("" when the team has none)."""
        return next((n.ip for n in self.nodes() if n.role == role), "")

    def staging_postgresql_address(self) -> str:
        """The staging PostgreSQL's address (the staging topology's database; "" when disabled)."""
        return next((n.ip for n in self.nodes() if n.engine == "postgresql"), "")

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


def environment(cfg: TeamConfig) -> Environment:
    """The team's machines (its services and the staging topology) as one Environment."""
    return Environment(
        name=cfg.name,
        directory=cfg.dir,
        nodes=tuple(cfg.nodes()),
        provider=provider("docker"),
        control_name=f"team-{cfg.name}",
        not_up="run `contrail team up` first",
    )


def workspace(cfg: TeamConfig) -> Workspace:
    return environment(cfg).workspace


def apt_cache_url(cfg: TeamConfig) -> str:
    """The team's apt cache as the host reaches it (builds: `--apt-cache URL`; environments: apt_cache)."""
    return f"http://127.0.0.1:{cfg.apt_cache_port}" if cfg.apt_cache else ""


def remotes(cfg: TeamConfig) -> list[str]:
    """What a developer runs to push to the team's scm."""
    node = next((n for n in cfg.nodes() if n.role == "scm"), None)
    return [f"git remote add team gitolite3@{node.ip}:{repo}" for repo in cfg.repositories] if node else []
