"""What Contrail adapts in an unmodified Django project so that it runs on several app servers.

Only what is infrastructure: the database (the database node, not a SQLite file per server), the
static root (collected once per push, served by Nginx), the allowed hosts (the names the topology
reaches a server by) and the secret key (this environment's, the same on every server). Each is
adapted only when the project does not already read it from the environment. Everything else
(DEBUG, sessions, caches, file storage) stays as the project set it: revealing what several servers
break is `contrail check`'s job, not this module's.

The project's settings are read as source (`ast`), never imported: startdev runs on the host, where
the project's dependencies need not be installed. The result is a visible settings module,
devenv/contrail_settings.py, that imports the project's settings and overrides those names only.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from contrail.config import MODULE_NAME, DevConfig
from contrail.deploy.release import requirement_lines
from contrail.errors import ConfigError

SETTINGS_FILE = "devenv/contrail_settings.py"
SETTINGS_MODULE = "contrail_settings"  # its name on the app servers (at the root of every release)
ADAPTED = ("DATABASES", "STATIC_ROOT", "ALLOWED_HOSTS", "SECRET_KEY")
WHEELS_NAME = "_CONTRAIL_WHEELS"
# A value computed from any of these reads the environment (os.environ, os.getenv, django-environ's
# env(...)/env.str(...), python-decouple's config(...), dj-database-url, …).
_ENV_NAMES = frozenset({"environ", "getenv", "env", "config", "dj_database_url", "decouple", "Env"})
# Database drivers by engine: (what the wheels get when the requirements name none, names that count).
DRIVERS = {
    "postgresql": ("psycopg2-binary>=2.9,<3", {"psycopg2", "psycopg2-binary", "psycopg", "psycopg-binary"}),
    "mysql": ("PyMySQL>=1.1,<2", {"pymysql", "mysqlclient"}),
}
DATABASE_URL_LIBRARY = "dj-database-url>=2,<4"


@dataclass(frozen=True)
class Finding:
    """How the project's settings set one name: from the environment, as a literal, or not at all."""

    name: str
    source: str  # "environment", "literal" or "absent"
    where: str = ""  # file:line (relative to the project) of the assignment that counts
    sqlite: bool = False  # DATABASES: the value names SQLite

    @property
    def adapted(self) -> bool:
        return self.source != "environment"

    def describe(self) -> str:
        """What the project does now, in a few words."""
        if self.source == "absent":
            return "not set"
        if self.source == "environment":
            return f"read from the environment at {self.where}"
        return f"{'SQLite, a file on each app server' if self.sqlite else 'a literal'} at {self.where}"


def settings_file(project: Path, module: str) -> Path:
    """The source file of a dotted settings module under `project`."""
    if not MODULE_NAME.fullmatch(module):
        raise ConfigError(f"Django settings module {module!r} is not a dotted Python name")
    base = project.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"Django settings module {module!r} not found under {project}",
        "set app.django_settings in contrail.toml to the module manage.py uses",
    )


def analyse(project: Path, module: str) -> list[Finding]:
    """How the project's settings module sets each adapted name (following its star imports)."""
    found: dict[str, Finding] = {}
    _scan(project, settings_file(project, module), found, depth=0)
    return [found.get(name, Finding(name, "absent")) for name in ADAPTED]


def _scan(project: Path, file: Path, found: dict[str, Finding], depth: int) -> None:
    source = file.read_text()
    try:
        tree = ast.parse(source, filename=str(file))
    except SyntaxError as err:
        raise ConfigError(f"{file}:{err.lineno or 1}: not valid Python: {err.msg}") from None
    _statements(project, file, source, tree.body, found, depth)


def _statements(
    project: Path, file: Path, source: str, body: list[ast.stmt], found: dict[str, Finding], depth: int
) -> None:
    """In order, so the last assignment of a name counts (blocks under if/try/with included)."""
    for statement in body:
        if isinstance(statement, ast.ImportFrom) and any(alias.name == "*" for alias in statement.names):
            imported = _local_module(project, file, statement)
            if imported is not None and depth < 5:
                _scan(project, imported, found, depth + 1)
        elif isinstance(statement, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            value = statement.value
            for name in filter(None, map(_assigned_name, targets)):
                if name not in ADAPTED or value is None:
                    continue
                where = f"{file.relative_to(project)}:{statement.lineno}"
                from_env = _reads_environment(value)
                if (isinstance(statement, ast.AugAssign) or _is_item(targets)) and name in found:
                    # DATABASES["default"] = … or ALLOWED_HOSTS += […]: changes the value already found
                    if from_env:
                        found[name] = Finding(name, "environment", where)
                    continue
                sqlite = "sqlite3" in (ast.get_source_segment(source, value) or "")
                found[name] = Finding(name, "environment" if from_env else "literal", where, sqlite)
        else:
            for block in ("body", "orelse", "finalbody"):
                _statements(project, file, source, getattr(statement, block, []) or [], found, depth)
            for handler in getattr(statement, "handlers", []) or []:
                _statements(project, file, source, handler.body, found, depth)


def _assigned_name(target: ast.expr) -> str | None:
    """NAME for `NAME = …`, `NAME[…] = …` and `NAME[…][…] = …`."""
    while isinstance(target, ast.Subscript):
        target = target.value
    return target.id if isinstance(target, ast.Name) else None


def _is_item(targets: list[ast.expr]) -> bool:
    return any(isinstance(t, ast.Subscript) for t in targets)


def _reads_environment(value: ast.expr) -> bool:
    for node in ast.walk(value):
        if isinstance(node, ast.Name) and node.id in _ENV_NAMES:
            return True
        if isinstance(node, ast.Attribute) and node.attr in _ENV_NAMES:
            return True
    return False


def _local_module(project: Path, file: Path, statement: ast.ImportFrom) -> Path | None:
    """The project's own module a `from … import *` names (None for an installed package)."""
    parts = (statement.module or "").split(".") if statement.module else []
    if statement.level:
        base = file.parent
        for _ in range(statement.level - 1):
            base = base.parent
    else:
        base = project
    target = base.joinpath(*parts) if parts else base
    for candidate in (target.with_suffix(".py"), target / "__init__.py"):
        if candidate.is_file() and candidate.resolve().is_relative_to(project.resolve()):
            return candidate
    return None


def driver_missing(requirement_lines: list[str], engine: str) -> str | None:
    """The driver requirement for `engine` when the requirements name none of its drivers."""
    spec, names = DRIVERS[engine]
    return None if names & _project_names(requirement_lines) else spec


def _project_names(requirement_lines: list[str]) -> set[str]:
    """Normalised project names of requirement lines (PEP 503), options and URLs left out."""
    names = set()
    for line in requirement_lines:
        match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if match and not line.lstrip().startswith("-"):
            names.add(canonical_name(match.group(1)))
    return names


def canonical_name(name: str) -> str:
    """A project name normalised as PEP 503 defines it (what packaging's canonicalize_name returns for a
    valid name; `packaging.utils` itself would cost every `fab push` its tags and platform modules)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def extra_wheels(settings_source: str, requirement_lines: list[str]) -> list[str]:
    """What the generated settings module needs that the requirements lack (its WHEELS_NAME list)."""
    wanted: list[str] = []
    for statement in ast.parse(settings_source).body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == WHEELS_NAME for t in statement.targets
        ):
            wanted = [str(v) for v in ast.literal_eval(statement.value)]
    have = _project_names(requirement_lines)
    return [spec for spec in wanted if _project_names([spec]).isdisjoint(have | _aliases(have))]


def _aliases(names: set[str]) -> set[str]:
    """A driver the requirements name stands for every driver of its engine."""
    return set().union(*(group for _, group in DRIVERS.values() if group & names))


def render_settings(module: str, findings: list[Finding], engine: str, requirement_lines: list[str]) -> str:
    """devenv/contrail_settings.py for `module`, adapting the names `findings` says are not from the
    environment. Every value written into it is a validated module name or a constant of this file."""
    if not MODULE_NAME.fullmatch(module):
        raise ConfigError(f"Django settings module {module!r} is not a dotted Python name")
    by_name = {f.name: f for f in findings}
    wheels: list[str] = []
    lines = [
        f'"""Django settings on Contrail\'s app servers: {module}, with what is infrastructure adapted.',
        "",
        "Written by `contrail startdev` from the project's settings; run it again when the project changes how",
        "one of the settings below is set (a setting the project reads from the environment is left alone).",
        "Everything else (DEBUG, sessions, caches, file storage) stays as the project set it: `contrail check`",
        "shows what several app servers change. Production needs the same adaptations, from its own environment.",
        '"""',
        "",
        "import os",
        "",
        f"from {module} import *  # noqa: F403",
        f"import {module} as _project",
        "",
    ]
    database = by_name["DATABASES"]
    if database.adapted:
        wheels.append(DATABASE_URL_LIBRARY)
        lines += [
            f"# DATABASES ({database.describe()}): the database node, for every app server.",
            "import dj_database_url  # noqa: E402",
            "",
        ]
    if engine == "mysql" and "mysqlclient" not in _project_names(requirement_lines):
        lines += [
            "# MariaDB through PyMySQL (pure Python; mysqlclient would need a C client library on the servers).",
            "import pymysql  # noqa: E402",
            "",
            "pymysql.install_as_MySQLdb()",
        ]
    if database.adapted:
        lines += [
            "DATABASES = {",
            "    **_project.DATABASES,",
            '    "default": dj_database_url.parse(',
            '        os.environ["DATABASE_URL"], conn_max_age=60, conn_health_checks=True',
            "    ),",
            "}",
        ]
    spec = driver_missing(requirement_lines, engine)
    if spec:
        wheels.append(spec)
    for name, comment, code in (
        (
            "STATIC_ROOT",
            "`fab push` runs collectstatic once, into the directory it names; the web nodes serve it",
            'STATIC_ROOT = os.environ.get("STATIC_ROOT", "/srv/app/static/collected")',
        ),
        (
            "ALLOWED_HOSTS",
            "also the names the topology reaches each app server by",
            'ALLOWED_HOSTS = [*_project.ALLOWED_HOSTS, *os.environ["CONTRAIL_ALLOWED_HOSTS"].split(",")]',
        ),
        (
            "SECRET_KEY",
            "this environment's own (.contrail/secrets.toml), the same on every app server",
            'SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]',
        ),
    ):
        finding = by_name[name]
        if finding.adapted:
            lines += ["", f"# {name} ({finding.describe()}): {comment}.", code]
    kept = [f for f in findings if not f.adapted]
    if kept:
        lines += ["", "# Left alone (the project reads them from the environment):"]
        lines += [f"#   {f.name} ({f.where})" for f in kept]
    lines += [
        "",
        "# What `fab push` adds to the app's wheels for this module when requirements.txt lacks it.",
        f"{WHEELS_NAME} = {wheels!r}",
        "",
    ]
    return "\n".join(lines)


def settings_for(cfg: DevConfig) -> tuple[str, list[Finding]]:
    """The adapted settings module of a Django project and what it adapts."""
    findings = analyse(cfg.app.path, cfg.app.django_settings)
    lines = requirement_lines(cfg.app.requirements)
    return render_settings(cfg.app.django_settings, findings, cfg.db_engine, lines), findings


def summary(findings: list[Finding]) -> list[str]:
    """One line per adapted setting, for startdev to print once."""
    what = {
        "DATABASES": "the database node",
        "STATIC_ROOT": "collected once per push, served by Nginx",
        "ALLOWED_HOSTS": "plus the topology's names",
        "SECRET_KEY": "this environment's own, the same on every server",
    }
    return [f"{f.name} → {what[f.name]} (was {f.describe()})" for f in findings if f.adapted]
