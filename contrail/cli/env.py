"""`contrail startdev`, `up`, `status`, `drill`, `logs`, `check`, `verify`, `load`, `destroy`: one environment."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape
from rich.table import Table

from contrail.cli.common import cli, console, project_config
from contrail.errors import ContrailError

if TYPE_CHECKING:
    from contrail.environment.health import NodeHealth
    from contrail.watch import check


@cli.command("startdev")
@click.option(
    "--vagrant", "use_vagrant", is_flag=True, default=True, help="Render a Vagrant environment (the default)."
)
@click.option("--name", help="Environment name (first run; default: the directory's name).")
@click.option("--wsgi", metavar="MODULE:CALLABLE", help="WSGI entry point (first run; detected for Django).")
@click.option(
    "--war",
    metavar="PATH",
    help="The .war Tomcat app servers run (first run; detected in target/, build/libs/ or the directory).",
)
@click.option("--web", type=int, help="Nginx nodes (first run; default 2).")
@click.option("--app", "app_nodes", type=int, help="App servers (first run; default 3).")
@click.option("--cache", "cache_nodes", type=click.IntRange(0, 1), help="The shared cache node (first run; default 1).")
@click.option("--port", type=int, help="Host port of the front door (first run; default 8080).")
@click.option("--stats-port", type=int, help="Host port of HAProxy's stats page (first run; default 8404).")
@click.option(
    "--db",
    "db_engine",
    type=click.Choice(["postgresql", "mysql"]),
    help="The database node's engine (first run; default postgresql; mysql is MariaDB, box db-mariadb).",
)
@click.option(
    "--catalog",
    metavar="URL",
    help="Take the boxes from a team catalog (first run; http(s)://[USER:PASSWORD@]HOST:PORT or a directory).",
)
@click.option(
    "--provider",
    type=click.Choice(["docker", "libvirt", "virtualbox"]),
    help="Containers (docker, the default) or VMs (libvirt, virtualbox; boxes from `contrail build-boxes "
    "--provider NAME`). Contrail runs docker and libvirt machines; VirtualBox's, Vagrant does.",
)
@click.option("--force", is_flag=True, help="Overwrite rendered files even if you changed them.")
def startdev_cmd(
    use_vagrant: bool,
    name: str | None,
    wsgi: str | None,
    war: str | None,
    web: int | None,
    app_nodes: int | None,
    cache_nodes: int | None,
    port: int | None,
    stats_port: int | None,
    db_engine: str | None,
    catalog: str | None,
    provider: str | None,
    force: bool,
) -> None:
    """Render Vagrantfile, fabfile.py and contrail.toml for the app in this directory (cookiecutter)."""
    from contrail.deploy import adapt
    from contrail.scaffold import devenv

    for label, value in (("--web", web), ("--app", app_nodes)):
        if value is not None and not 1 <= value <= 20:
            raise ContrailError(f"{label} must be from 1 to 20 (got {value})")
    request = devenv.Request(
        name=name,
        wsgi=wsgi,
        war=war,
        web=web,
        app=app_nodes,
        cache=cache_nodes,
        host_port=port,
        stats_port=stats_port,
        db_engine=db_engine,
        catalog=catalog,
        provider=provider,
        force=force,
    )
    rendered = devenv.startdev(Path.cwd(), request)
    for name_ in rendered.written:
        console.print(f"  wrote     {name_}")
    for name_ in rendered.unchanged:
        console.print(f"  unchanged {name_}", style="dim")
    cfg = rendered.config
    if rendered.adapted and adapt.SETTINGS_FILE in rendered.written:
        console.print(
            f"{cfg.app.django_settings} runs unmodified; for several servers {adapt.SETTINGS_FILE} adapts "
            "(production needs the same, from its environment):"
        )
        for line in rendered.adapted:
            console.print(f"  {line}", markup=False)
    source = f"boxes from {cfg.catalog}" if cfg.catalog else "boxes built on this machine"
    console.print(
        f"Environment [bold]{cfg.name}[/]: 1 proxy, {cfg.web} web, {cfg.app_nodes} app, 1 db"
        f"{f', 1 cache ({cfg.cache_engine})' if cfg.cache_nodes else ''} on {cfg.subnet}, "
        f"{source}. Next: `contrail up`, then `fab push`."
    )


@cli.command("up")
@click.option("-v", "--verbose", is_flag=True, help="Stream Vagrant's own output.")
def up_cmd(verbose: bool) -> None:
    """`vagrant up` every node (in parallel), then wait until the whole topology is healthy."""
    from contrail import deploy
    from contrail.environment import dev
    from contrail.environment.core import REMOVED
    from contrail.scaffold import devenv
    from contrail.ui import BuildProgress

    cfg = project_config(Path.cwd())
    devenv.check_ports(cfg)
    started = time.monotonic()
    with BuildProgress(console, verbose=verbose) as ui:
        last: dict[str, str] = {}

        def on_node(node: str, text: str) -> None:
            ui.tool_line(node or "vagrant", text)
            if node and node not in last:
                ui.start(node, text)
            elif node:
                ui.status(node, text)
            if node:
                last[node] = text

        caught_up: list[str] = []
        report = dev.up(
            cfg,
            on_node,
            lambda ssh_config_written: caught_up.extend(deploy.catch_up(cfg, on_node, ssh_config_written)),
        )
        for node in sorted(last):
            ui.finish(node, True, REMOVED if last[node] == REMOVED else "configured")
    _print_health(report)
    if caught_up:
        console.print(f"{', '.join(caught_up)}: got the live release from another app server before taking traffic")
    newer = dev.newer_boxes(cfg)
    if newer:
        console.print(
            f"Newer boxes are published for {', '.join(newer)}: `vagrant box update`, then "
            "`contrail destroy` and `contrail up` to run them (`vagrant box outdated` lists them).",
            markup=False,
        )
    outdated = dev.outdated_machines(cfg)
    if outdated:
        console.print(
            f"Newer boxes are built: {'; '.join(outdated)}. `contrail startdev` pins them in the Vagrantfile, "
            "then `contrail destroy` and `contrail up` run them.",
            markup=False,
        )
    if not all(h.healthy for h in report):
        raise ContrailError("some nodes are not healthy", "see the table above and `contrail up -v`")
    console.print(f"Up in {time.monotonic() - started:.1f} s: http://127.0.0.1:{cfg.host_port}/ — next: `fab push`")


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--watch", is_flag=True, help="Refresh the table every second until Ctrl-C.")
def status_cmd(as_json: bool, watch: bool) -> None:
    """Each node: container state, health, live release, requests/s and 5xx HAProxy sees."""
    from rich.live import Live

    from contrail import deploy
    from contrail.cli import fabtasks
    from contrail.environment import dev
    from contrail.environment.health import health

    cfg = project_config(Path.cwd())
    env = dev.environment(cfg)
    if as_json:
        states = env.states()
        click.echo(
            json.dumps(
                [
                    {
                        "node": h.node.name,
                        "role": h.node.role,
                        "address": h.node.ip,
                        "state": states.get(h.node.name, "missing"),
                        "healthy": h.healthy,
                        "release": h.release,
                        "rate": h.rate,
                        "errors": h.errors,
                        "detail": h.detail,
                    }
                    for h in health(cfg)
                ],
                indent=2,
            )
        )
        return
    if not watch:
        _print_health(health(cfg), env.states())
        if env.ssh_config_path.exists():
            fabtasks.print_push_state(deploy.push_state(deploy.Project(cfg, env)))
    else:
        with Live(console=console, auto_refresh=False) as live:
            while True:
                live.update(_health_table(health(cfg), env.states()), refresh=True)
                time.sleep(1)
    console.print(
        f"App: http://127.0.0.1:{cfg.host_port}/   HAProxy stats: http://127.0.0.1:{cfg.stats_port}/ "
        "(user admin, password in .contrail/secrets.toml)"
    )


@cli.command("drill")
@click.argument("action", type=click.Choice(["stop", "pause", "slow", "restore"]))
@click.argument("nodes", nargs=-1)
@click.option(
    "--delay",
    "delay_ms",
    type=click.IntRange(1, 60_000),
    default=500,
    show_default=True,
    metavar="MS",
    help="For slow: milliseconds every app request waits.",
)
def drill_cmd(action: str, nodes: tuple[str, ...], delay_ms: int) -> None:
    """Fail a node on purpose (stop, pause, slow) and watch traffic move; `restore` undoes every drill."""
    from contrail.environment import drill

    cfg = project_config(Path.cwd())
    if action == "restore":
        restored = drill.restore(cfg, list(nodes) or None)
        console.print(f"restored {', '.join(restored) or 'nothing (no drill was active)'}; the topology is healthy")
        return
    if not nodes:
        raise ContrailError(f"drill {action} needs a node", "e.g. `contrail drill stop app2`")
    for node in nodes:
        drill.act(cfg, action, node, delay_ms)
    console.print(
        f"{action}: {', '.join(nodes)} — `contrail status` shows the effect, `contrail drill restore` undoes it"
    )


@cli.command("logs")
@click.argument("targets", nargs=-1)
@click.option("-f", "--follow", is_flag=True, help="Keep following (Ctrl-C to stop).")
@click.option("-n", "--lines", type=click.IntRange(0, 10_000), default=20, show_default=True)
def logs_cmd(targets: tuple[str, ...], follow: bool, lines: int) -> None:
    """The role services' logs of NODEs or ROLEs (default: all), merged, each line prefixed by its node."""
    from contrail.environment import dev
    from contrail.watch import logs

    cfg = project_config(Path.cwd())
    logs.show(
        dev.environment(cfg),
        list(targets),
        lines=lines,
        follow=follow,
        echo=lambda line: console.print(line, markup=False),
    )


@cli.command("check")
@click.option(
    "--flow",
    "flow_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A user flow (TOML, [[step]] tables) to replay pinned, then across servers.",
)
@click.option("--concurrency", type=click.IntRange(0, 64), default=0, help="Also run the flow by N clients at once.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for CI) instead of a table.")
def check_cmd(flow_file: Path | None, concurrency: int, as_json: bool) -> None:
    """What several app servers break in this app, found on the live topology: state kept per server
    or per process (sessions, caches, files), settings that cannot hold across servers or in
    production, and (with --flow) a user flow replayed across servers. Exit status 1 when a check
    fails.

    The flow file holds [[step]] tables: name, method, path, form (a table), status, text; cookies are
    kept between steps."""
    from contrail import deploy
    from contrail.watch import check, flow

    cfg = project_config(Path.cwd())
    if concurrency and not flow_file:
        raise ContrailError("--concurrency runs a flow: give it with --flow FILE")
    if flow_file and not flow_file.is_file():
        raise ContrailError(f"flow file {flow_file} not found")
    steps = flow.load(flow_file) if flow_file else []
    env = deploy.Project.load(cfg.project_dir)
    with console.status("checking the app servers …") if not as_json else contextlib.nullcontext():
        report = check.run(env, check.flow_checks(env, steps, concurrency) if steps else None)
    if as_json:
        click.echo(report.as_json())
    else:
        _print_check(report)
    if report.failed:
        sys.exit(1)


def _print_check(report: check.Report) -> None:
    table = Table(title="what several servers change")
    for column in ("check", "server", "result", "detail", "fix"):
        table.add_column(column, overflow="fold")
    marks = {"pass": "[green]pass[/]", "warn": "[yellow]warn[/]", "fail": "[red]fail[/]"}
    for f in report.findings:
        table.add_row(f.check, f.server, marks[f.status], escape(f.detail), escape(f.fix))
    console.print(table)
    failed = len(report.failed)
    verdict = f"[red]{failed} check(s) failed[/]" if failed else "[green]every check passed[/]"
    console.print(f"{verdict} in {report.seconds:.1f} s")


@cli.command("verify", context_settings={"ignore_unknown_options": True})
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def verify_cmd(pytest_args: tuple[str, ...]) -> None:
    """Check every node's role with pytest-testinfra (extra arguments go to pytest, e.g. -v)."""
    from contrail.watch import verify

    status = verify.verify(project_config(Path.cwd()), list(pytest_args))
    if status != 0:
        raise ContrailError("some role checks failed (see above)", "`contrail status` shows each node's health")


@cli.command("load")
@click.option("--seconds", type=click.FloatRange(min=0.1), default=10, show_default=True, help="Stop after this long.")
@click.option(
    "--requests",
    "max_requests",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Stop after this many requests.",
)
@click.option("-c", "--connections", type=click.IntRange(1, 256), default=8, show_default=True)
@click.option("--path", default="/", show_default=True)
def load_cmd(seconds: float, max_requests: int, connections: int, path: str) -> None:
    """A bounded load against this environment's front door (127.0.0.1), with a summary."""
    from contrail.watch import load

    cfg = project_config(Path.cwd())
    report = load.run(
        f"http://127.0.0.1:{cfg.host_port}{path}", seconds=seconds, max_requests=max_requests, concurrency=connections
    )
    console.print(report.summary(), markup=False)
    if report.failed:
        raise ContrailError(f"{report.failed} of {report.requests} requests failed")


@cli.command("destroy")
def destroy_cmd() -> None:
    """Remove exactly what this environment created: its machines and their network."""
    from contrail.environment import dev

    cfg = project_config(Path.cwd())
    with console.status("vagrant destroy …"):
        left = dev.environment(cfg).destroy()
    if left:
        raise ContrailError(
            f"still present after destroy: {', '.join(left)}", "remove them with docker rm / docker network rm"
        )
    console.print(f"Environment {cfg.name} destroyed.")


def _print_health(report: list[NodeHealth], states: dict[str, str] | None = None) -> None:
    console.print(_health_table(report, states))


def _health_table(report: list[NodeHealth], states: dict[str, str] | None = None) -> Table:
    table = Table(title="topology")
    columns = [
        "node",
        "role",
        "address",
        *(["state"] if states is not None else []),
        "healthy",
        "req/s",
        "5xx",
        "detail",
    ]
    for column in columns:
        table.add_column(column)
    for h in report:
        state = [states.get(h.node.name, "missing")] if states is not None else []
        rate = "" if h.rate is None else str(h.rate)
        errors = "" if h.errors is None else str(h.errors)
        healthy = "[green]yes[/]" if h.healthy else "[red]no[/]"
        table.add_row(h.node.name, h.node.role, h.node.ip, *state, healthy, rate, errors, h.detail)
    return table
