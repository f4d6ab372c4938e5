"""Fabric tasks for the {{ cookiecutter.contrail.name }} environment (rendered by `contrail startdev`).

Nodes and roles come from contrail.toml; how to reach them from an SSH config: `vagrant ssh-config`
(cached in .contrail/ssh_config by `contrail up`), or the file CONTRAIL_SSH_CONFIG names, so the same
tasks work against any SSH hosts. The logic lives in the tested library (`contrail.fabtasks`).
"""

from pathlib import Path

from fabric import task

from contrail.cli import fabtasks

HERE = Path(__file__).resolve().parent


@task(default=True)
def push(c, all_at_once=False):
    """Put the app's code live: one app server at a time, canary first (--all-at-once: every server together)."""
    fabtasks.push(HERE, rolling=not all_at_once)


@task
def rollback(c):
    """Switch every app server back to its previous release (graceful)."""
    fabtasks.rollback(HERE)


@task
def migrate(c):
    """Run the app's database migrations once, on the first app server."""
    fabtasks.migrate(HERE)


@task
def status(c):
    """Each app server's live release, as its health endpoint reports it."""
    fabtasks.status(HERE)


@task
def logs(c, node="app1", lines=50):
    """The last lines of a node's service logs (as `contrail logs NODE -n LINES`)."""
    fabtasks.logs(HERE, node, int(lines))


@task
def shell(c, node="app1"):
    """An interactive shell on a node."""
    fabtasks.shell(HERE, node)
