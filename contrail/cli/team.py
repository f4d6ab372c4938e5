"""`contrail team`, `staging` and `github`: the team's commands."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from contrail.cli.common import cli, console, engine_option, project_config
from contrail.errors import ContrailError

if TYPE_CHECKING:
    from contrail.staging.engines import Engine
    from contrail.team import TeamConfig


@cli.group("github")
def github_group() -> None:
    """The team flow on GitHub: workflows, CODEOWNERS, a settings checklist."""


@github_group.command("init")
@click.option("--owners", default="@your-org/your-team", show_default=True, help="CODEOWNERS for everything.")
@click.option("--branch", default="main", show_default=True, help="The branch that deploys to staging.")
@click.option("--test-command", help="How CI runs the tests (default: Django's `manage.py test`, else pytest).")
@click.option("--force", is_flag=True, help="Overwrite rendered files even if you changed them.")
def github_init(owners: str, branch: str, test_command: str | None, force: bool) -> None:
    """Render .github/ (test and deploy-to-staging workflows, CODEOWNERS, checklist), validated offline."""
    from contrail.scaffold import github

    written = github.init(Path.cwd(), owners=owners, branch=branch, test_command=test_command, force=force)
    for file in written:
        console.print(f"  wrote     {file}")
    console.print(
        "Workflows valid against GitHub's schema. Next: the settings in .github/CONTRAIL-SETUP.md, then push."
    )


@cli.group("team")
def team_group() -> None:
    """The team's services (staging databases) as one Vagrant environment in team/."""


@team_group.command("init")
@click.option("--name", help="Team name (first run; default: team-<directory>).")
@click.option("--force", is_flag=True, help="Overwrite rendered files even if you changed them.")
def team_init(name: str | None, force: bool) -> None:
    """Render team/: Vagrantfile, contrail-team.toml, configure scripts (cookiecutter)."""
    from contrail import team

    cfg, written = team.init(Path.cwd(), name, force)
    for file in written:
        console.print(f"  wrote     {team.DIRNAME}/{file}")
    nodes = ", ".join(n.name for n in cfg.nodes())
    console.print(f"Team [bold]{cfg.name}[/]: {nodes} on {cfg.subnet}. Next: `contrail team up`.")


@team_group.command("up")
def team_up() -> None:
    """Bring the team's machines up (configuration only) and wait until their services answer."""
    from contrail import team

    cfg = team.find(Path.cwd())
    started = time.monotonic()
    # What runs is always what contrail-team.toml says: re-render first (refused if you edited a file).
    cfg, written = team.init(cfg.dir.parent, None, force=False)
    for file in written:
        console.print(f"  wrote     {team.DIRNAME}/{file}")
    for removed in team.remove_disabled(cfg):
        console.print(f"  removed   {cfg.name}-{removed} (its service is no longer enabled in {team.FILENAME})")
    with console.status(f"vagrant up ({cfg.dir}) …"):
        report = team.up(cfg)
    table = Table(title=f"team {cfg.name}")
    for column in ("node", "box", "address", "answers"):
        table.add_column(column)
    for node, ok in report:
        table.add_row(node.name, node.box_name, f"{node.ip}:{node.port}", "[green]yes[/]" if ok else "[red]no[/]")
    console.print(table)
    if not all(ok for _, ok in report):
        raise ContrailError("some team services do not answer", f"see {cfg.state / 'logs'}")
    for line in team.remotes(cfg):
        console.print(f"  {line}", markup=False)
    if cfg.apt_cache:
        url = team.apt_cache_url(cfg)
        console.print(f"  apt cache: {url} (contrail build-boxes --apt-cache {url}; apt_cache in contrail.toml)")
    console.print(f"Team up in {time.monotonic() - started:.1f} s.")


@team_group.command("wheels")
@click.option(
    "-r",
    "--requirement",
    "requirements",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A requirements file of one of the team's repositories (repeatable).",
)
def team_wheels(requirements: tuple[Path, ...]) -> None:
    """Add the packages of requirements files to the team's wheelhouse, which CI's builds install from
    (the team's boxes have no PyPI; this machine fetches them)."""
    from contrail import team

    cfg = team.find(Path.cwd())
    with console.status("building wheels …"):
        added = team.add_wheels(cfg, list(requirements), team.workspace(cfg).new_log("team-wheels"))
    total = len(list(team.wheelhouse_dir(cfg).glob("*.whl")))
    console.print(f"team wheelhouse: {len(added)} new, {total} wheels ({', '.join(added) or 'nothing new'}).")


@team_group.command("destroy")
def team_destroy() -> None:
    """Remove the team's machines (their data goes with them)."""
    from contrail import team

    cfg = team.find(Path.cwd())
    with console.status("vagrant destroy …"):
        left = team.destroy(cfg)
    if left:
        raise ContrailError(f"still present after destroy: {', '.join(left)}", "remove them with docker rm")
    console.print(f"Team {cfg.name} destroyed.")


@cli.group("staging")
def staging_group() -> None:
    """The team's staging databases: refresh from a dump (anonymised), roll back, pull into a dev env."""


@staging_group.command("refresh")
@click.option("--from", "dump", required=True, type=click.Path(path_type=Path), help="The dump (.sql, .sql.gz, -Fc).")
@engine_option
@click.option("--allow-unmasked", is_flag=True, help="Go on when personal-looking columns have no rule.")
def staging_refresh(dump: Path, engine: str, allow_unmasked: bool) -> None:
    """Load DUMP into a scratch database, anonymise it, check it, swap it in atomically."""
    from contrail import secrets, staging, team

    cfg = team.find(Path.cwd())
    log = team.workspace(cfg).new_log(f"staging-refresh-{engine}")
    db = _staging_engine(cfg, engine, log)
    salt = secrets.load(cfg.state)["anonymise_salt"]
    with console.status("refreshing …") as status:
        done = staging.refresh(
            db, dump, list(cfg.rules), salt, allow_unmasked=allow_unmasked, on_step=lambda s: status.update(s)
        )
    tables = ", ".join(f"{t} {n}" for t, n in done.tables.items())
    console.print(
        f"{engine} staging database {done.database}: {done.rows} rows in {len(done.tables)} tables ({tables}); "
        f"anonymised {', '.join(done.anonymised) or 'nothing'}; {done.seconds:.1f} s "
        f"({done.rows / max(done.seconds, 0.001):.0f} rows/s: "
        f"{', '.join(f'{phase} {seconds:.1f} s' for phase, seconds in done.phases.items())}). "
        "The previous data is kept: `contrail staging rollback`."
    )
    if done.unmasked:
        console.print(
            f"[yellow]Let through unmasked (--allow-unmasked), recorded with the data: {', '.join(done.unmasked)}"
        )


@staging_group.command("rollback")
@engine_option
def staging_rollback(engine: str) -> None:
    """Swap the previous staging data back in (and the current one out, for another rollback)."""
    from contrail import team

    cfg = team.find(Path.cwd())
    _staging_engine(cfg, engine, team.workspace(cfg).new_log(f"staging-rollback-{engine}")).rollback()
    console.print(f"{engine} staging database {cfg.database}: back to the previous data.")


@staging_group.command("pull")
@click.option(
    "--team",
    "team_dir",
    envvar="CONTRAIL_TEAM",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The team's directory (where contrail-team.toml is).",
)
def staging_pull(team_dir: Path) -> None:
    """Copy the anonymised staging data into this environment's database node (never the raw dump)."""
    from contrail import deploy, staging, team
    from contrail.environment import dev

    cfg = project_config(Path.cwd())
    tcfg = team.find(team_dir)
    project = deploy.Project(cfg, dev.environment(cfg))
    log = project.ws.new_log("staging-pull")
    source = _staging_engine(tcfg, cfg.db_engine, log)
    db_node = project.env.by_role("db")[0].name
    target = staging.ENGINES[cfg.db_engine](project.env.remote(db_node, log), cfg.db_name, cfg.db_user)
    with console.status("pulling …"):
        tables, unmasked = staging.pull(source, target)
        deploy.forget_migrations(project, log)
    console.print(
        f"{cfg.name}'s {db_node} node now holds the team's anonymised staging data: "
        f"{sum(tables.values())} rows in {len(tables)} tables (the previous data is kept as {cfg.db_name}__previous)."
    )
    if unmasked:
        console.print(f"[yellow]Unmasked in it (let through by --allow-unmasked at refresh): {', '.join(unmasked)}")
    if cfg.app.framework == "django":
        console.print("The next `fab push` migrates it.")


def _staging_engine(cfg: TeamConfig, engine: str, log: Path) -> Engine:
    from contrail import staging, team

    return staging.ENGINES[engine](team.remote(cfg, cfg.node(engine), log), cfg.database, cfg.user)
