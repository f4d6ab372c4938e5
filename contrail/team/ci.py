"""The team's source hosting and CI, kept in step with contrail-team.toml: gitolite's repositories and
users, Contrail and the staging files on the ci box for its deploy step, the wheelhouse its builds use."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from contrail import topology
from contrail.deploy import wheelhouse
from contrail.team.config import CI_KEY, TeamConfig, environment
from contrail.tools.run import run
from contrail.tools.ssh import Remote, commands
from contrail.workspace import CLONE


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
    ci = environment(cfg).remote("ci", log)
    _install_contrail(ci, *_contrail_wheels(cfg, log))
    hosts = "".join(f"Host {n.topology_name}\n  HostName {n.ip}\n" for n in cfg.nodes() if n.topology_name)
    hosts += f"Host {topology.DATABASE_NODE}\n  HostName {cfg.staging_postgresql_address()}\n"
    ssh_config = (
        f"# Written by `contrail team up`: the staging topology, for CI's `fab push`.\n{hosts}"
        f"Host *\n  User vagrant\n  IdentityFile {CI_HOME}/.ssh/id_ed25519\n  IdentitiesOnly yes\n"
        "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
    )
    incoming = "/tmp/contrail-ci-staging"
    with tempfile.TemporaryDirectory(prefix="contrail-ci-staging-") as tmp:
        staging = Path(tmp) / "staging"
        staging.mkdir()
        for name in ("contrail.toml", "fabfile.py"):
            shutil.copy2(cfg.dir / "staging" / name, staging / name)
        (staging / "ssh_config").write_text(ssh_config)
        names = sorted(path.name for path in staging.iterdir())
        ci.rsync([f"{staging}/"], f"{incoming}/", options=["--chmod=D755,F644"])
    owner = ["-o", "buildbot", "-g", "buildbot"]
    ci.run(
        commands(
            ["sudo", "install", "-d", *owner, f"{CI_HOME}/staging"],
            ["sudo", "install", *owner, "-m", "0600", *(f"{incoming}/{n}" for n in names), f"{CI_HOME}/staging/"],
            ["rm", "-rf", incoming],
        ),
        what="the staging files of CI",
    )


def _install_contrail(ci: Remote, key: str, wheels: Path) -> None:
    """Contrail from the wheels in `wheels` into buildbot's venv, unless it holds them already (`key`)."""
    venv = f"{CI_HOME}/contrail"
    installed = f"{venv}/.wheels-{key}"
    if ci.run(shlex.join(["test", "-e", installed]), check=False).ok:
        return
    incoming = f"/tmp/contrail-wheels-{key}"
    ci.rsync([f"{wheels}/"], f"{incoming}/", options=["--chmod=D755,F644"])
    as_buildbot = ["sudo", "-u", "buildbot"]
    pip = [f"{venv}/bin/pip", "install", "-q", "--no-index", "--find-links", incoming, "contrail"]
    ci.run(
        commands(
            [*as_buildbot, "rm", "-rf", venv],
            [*as_buildbot, "python3", "-m", "venv", venv],
            [*as_buildbot, *pip],
            [*as_buildbot, "touch", installed],
            ["rm", "-rf", incoming],
        ),
        what="installing Contrail on the ci box",
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
    if cfg.ci and environment(cfg).states().get("ci") == "running":
        sync_wheels(cfg, log)
    return sorted({wheel.name for wheel in target.glob("*.whl")} - before)


def sync_wheels(cfg: TeamConfig, log: Path) -> None:
    """The team's wheelhouse onto the ci box (CI_WHEELHOUSE), where every build installs from."""
    source = wheelhouse_dir(cfg)
    if any(source.glob("*.whl")):
        ci = environment(cfg).remote("ci", log)
        ci.rsync([f"{source}/"], f"{CI_WHEELHOUSE}/", options=["--chmod=D755,F644"])


def _contrail_wheels(cfg: TeamConfig, log: Path) -> tuple[str, Path]:
    """Wheels of Contrail (this checkout) and of its dependencies, built on the host once per version."""
    source = CLONE
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
