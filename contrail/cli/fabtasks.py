"""The rendered fabfile's tasks: each runs the library (`contrail.deploy`, `contrail.watch.logs`) and prints what
it returned; a ContrailError becomes one line and the exit status, never a traceback."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from contrail import deploy
from contrail.environment.health import health
from contrail.errors import ContrailError
from contrail.watch import logs as node_logs

console = Console(highlight=False)


def _run(task: Callable[[deploy.Project], None], project: Path) -> None:
    # A fab process runs its task and ends. What it imported (Fabric's paramiko, cryptography and invoke,
    # Contrail) is moved out of the garbage collector's sight, so that neither a collection during the
    # task nor the one at the interpreter's exit walks it: ~40 ms of a ~0.7 s push.
    gc.freeze()
    try:
        task(deploy.Project.load(project))
    except ContrailError as err:
        print(f"contrail: error: {err}", file=sys.stderr)
        sys.exit(err.exit_status)


def _waiting(holder: str) -> None:
    console.print(f"waiting for the push by {holder} to end …", style="yellow", markup=False)


def push(project: Path, rolling: bool) -> None:
    def task(loaded: deploy.Project) -> None:
        report = deploy.push(loaded, rolling, _waiting)
        console.print(
            f"[green]✓[/] release {report.release} live on {report.servers} app servers in {report.seconds:.2f} s"
            f"{' (requirements installed)' if report.installed_requirements else ''}"
            f"{' (migrated)' if report.migrated else ''}{' (static collected)' if report.collected_static else ''}"
        )
        console.print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in report.phases.items()), style="dim")

    _run(task, project)


def rollback(project: Path) -> None:
    _run(lambda loaded: console.print(f"[green]✓[/] rolled back: {deploy.rollback(loaded, _waiting)}"), project)


def migrate(project: Path) -> None:
    def task(loaded: deploy.Project) -> None:
        current, server = deploy.migrate(loaded, _waiting)
        console.print(f"[green]✓[/] migrations applied from release {current} on {server}")

    _run(task, project)


def status(project: Path) -> None:
    def task(loaded: deploy.Project) -> None:
        for node in health(loaded.cfg):
            if node.node.role == "app":
                console.print(f"{node.node.name:<8} {node.node.ip:<15} {node.detail}", markup=False)
        print_push_state(deploy.push_state(loaded))

    _run(task, project)


def print_push_state(state: deploy.PushState) -> None:
    if state.holder:
        console.print(f"push in progress: {state.holder}", style="yellow", markup=False)
    for app, webs in sorted(state.out.items()):
        console.print(f"{app} is out of rotation on {', '.join(webs)}", style="yellow", markup=False)


def logs(project: Path, node: str, lines: int) -> None:
    _run(lambda loaded: node_logs.show(loaded.env, [node], lines=lines, follow=False, echo=print), project)


def shell(project: Path, node: str) -> None:
    _run(lambda loaded: loaded.env.remote(node, loaded.ws.new_log("shell")).shell(), project)
