"""The `contrail` command: parse, call one function, print. No logic lives here."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from contrail import __version__, aptcache, doctor
from contrail.errors import ContrailError
from contrail.images import BoxStore
from contrail.workspace import workspace

if TYPE_CHECKING:
    from contrail import check
    from contrail.config import DevConfig
    from contrail.environment.health import NodeHealth
    from contrail.staging import Engine
    from contrail.team import TeamConfig

# Piped output (CI logs, files) gets wide lines instead of rich's 80-column default.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 400)

namespace_option = click.option(
    "--namespace",
    envvar="CONTRAIL_NAMESPACE",
    default="contrail",
    show_default=True,
    help="Image repository prefix of the boxes: <namespace>/<role>:<version>.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="contrail")
def cli() -> None:
    """Contrail: a production-shaped, multi-node development environment. Iterate faster."""


@cli.command("build-boxes")
@click.argument("roles", nargs=-1)
@click.option("-j", "--jobs", type=int, default=1, show_default=True, help="Builds to run at once.")
@click.option("--force", is_flag=True, help="Rebuild even when nothing changed.")
@click.option(
    "--apt-cache",
    "apt_cache",
    envvar="CONTRAIL_APT_CACHE",
    metavar="URL",
    help="Send apt through this apt-cacher-ng (e.g. http://127.0.0.1:3142 after `contrail apt-cache up`).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be built, build nothing.")
@click.option(
    "--smoke-timeout",
    type=click.FloatRange(min=1),
    default=90,
    show_default=True,
    metavar="SECONDS",
    help="How long a new box may take to pass its role's smoke check.",
)
@click.option("-v", "--verbose", is_flag=True, help="Stream Packer's and debootstrap's own output.")
@namespace_option
def build_boxes_cmd(
    roles: tuple[str, ...],
    jobs: int,
    force: bool,
    apt_cache: str | None,
    dry_run: bool,
    smoke_timeout: float,
    verbose: bool,
    namespace: str,
) -> None:
    """Build the prebaked box of each ROLE (default: every role) with Packer, from one Debian base."""
    from contrail.boxes import BuildOptions, build_boxes
    from contrail.ui import BuildProgress

    started = time.monotonic()
    proxy = aptcache.resolve(apt_cache) if apt_cache else None
    options = BuildOptions(
        roles=roles,
        jobs=jobs,
        force=force,
        namespace=namespace,
        dry_run=dry_run,
        smoke_timeout=smoke_timeout,
        apt_proxy=proxy.build_url if proxy else None,
        host_apt_proxy=proxy.host_url if proxy else None,
    )
    with BuildProgress(console, verbose=verbose) as ui:
        outcomes = build_boxes(workspace(), options, ui)
    if dry_run:
        for o in outcomes:
            console.print(f"{o.role:<11} {o.action}")
        return
    built = [o for o in outcomes if o.action in ("build", "reuse")]
    seconds = time.monotonic() - started
    roles = len(outcomes) - 1  # the base is not a role
    boxes = f"{roles} box{'' if roles == 1 else 'es'}"
    if not built:
        console.print(f"Nothing changed: {boxes} up to date ({seconds:.1f} s).")
    else:
        console.print(f"{boxes} ready, {len(built)} built or updated in {seconds:.1f} s.")


@cli.command("boxes")
@click.option("--all", "show_all", is_flag=True, help="Every version on disk, not only the current ones.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@namespace_option
def boxes_cmd(show_all: bool, as_json: bool, namespace: str) -> None:
    """List the built boxes: role, version, input hash, built at, size, image id."""
    from contrail.tools.docker import server_version

    server_version()
    boxes = [b for b in BoxStore(namespace).all() if show_all or b.is_current]
    if as_json:
        click.echo(json.dumps([asdict(b) for b in boxes], indent=2))
        return
    table = Table(title=f"{namespace} boxes (docker provider)")
    for column in ("role", "version", "input hash", "built at", "size", "image id", "current"):
        table.add_column(column)
    for b in boxes:
        table.add_row(
            b.role,
            b.version,
            b.input_hash[:12],
            b.built_at,
            f"{b.size / 1e6:.0f} MB",
            b.image_id.removeprefix("sha256:")[:12],
            "✓" if b.is_current else "",
        )
    console.print(table)
    if not boxes:
        console.print("No boxes yet: run `contrail build-boxes`.")


@cli.command("doctor")
@click.option("--fix", is_flag=True, help="Install what is missing (Debian packages) and start dockerd.")
def doctor_cmd(fix: bool) -> None:
    """Check what Contrail needs on this machine: tools, versions, whether dockerd answers."""
    if fix:
        ws_log = workspace().new_log("doctor")
        findings = doctor.fix(ws_log, lambda line: None)
    else:
        findings = doctor.diagnose()
    table = Table(title="contrail doctor")
    for column in ("requirement", "ok", "detail"):
        table.add_column(column)
    for f in findings:
        table.add_row(f.name, "[green]yes[/]" if f.ok else "[red]no[/]", f.detail)
    console.print(table)
    bad = [f for f in findings if not f.ok]
    if bad:
        raise ContrailError(
            f"{len(bad)} requirement(s) missing: {', '.join(f.name for f in bad)}",
            "run `contrail doctor --fix` (as root) or `make deps`",
        )


@cli.group("apt-cache")
def apt_cache_group() -> None:
    """An apt-cacher-ng for builds, from the apt-cache box, on the host's loopback."""


@apt_cache_group.command("up")
@click.option("--port", type=click.IntRange(1, 65535), default=aptcache.PORT, show_default=True)
@namespace_option
def apt_cache_up(port: int, namespace: str) -> None:
    """Start the apt cache (kept across restarts in a Docker volume)."""
    url = aptcache.up(BoxStore(namespace), port)
    console.print(f"apt cache answering at {url} — builds: contrail build-boxes --apt-cache {url}")


@apt_cache_group.command("down")
def apt_cache_down() -> None:
    """Stop the apt cache (its volume, the cached packages, stays)."""
    aptcache.down()
    console.print("apt cache stopped.")


catalog_option = click.option(
    "--catalog",
    "catalog_url",
    envvar="CONTRAIL_CATALOG",
    default="http://127.0.0.1:8070",
    show_default=True,
    metavar="URL",
    help="http(s)://[USER:PASSWORD@]HOST:PORT, file:///DIR or a directory.",
)


@cli.command("publish")
@click.argument("roles", nargs=-1)
@catalog_option
@click.option("--version", "version", metavar="X.Y.Z", help="Version to publish (default: the next patch version).")
@click.option("--force", is_flag=True, help="Replace an existing version, or publish an unchanged box anew.")
@click.option(
    "--registry",
    metavar="HOST[:PORT]",
    help="Image registry for docker boxes (default: the catalog server's own; none for a directory).",
)
@click.option(
    "--public-url",
    metavar="URL",
    help="The URL teammates read the catalog from, when it differs from --catalog (e.g. a directory "
    "synced to an HTTPS static host).",
)
@click.option("-v", "--verbose", is_flag=True, help="Stream docker push's own output.")
@namespace_option
def publish_cmd(
    roles: tuple[str, ...],
    catalog_url: str,
    version: str | None,
    force: bool,
    registry: str | None,
    public_url: str | None,
    verbose: bool,
    namespace: str,
) -> None:
    """Publish the current box of each ROLE (default: every built role) to a team catalog."""
    from contrail import catalog
    from contrail.catalog_store import parse_url
    from contrail.roles import load_catalog
    from contrail.ui import BuildProgress

    location = parse_url(catalog_url)
    ws = workspace()
    log = ws.new_log("publish")
    started = time.monotonic()
    with BuildProgress(console, verbose=verbose) as ui:

        def on_step(role: str, text: str) -> None:
            (ui.status if role in seen else ui.start)(role, text)
            seen.add(role)

        seen: set[str] = set()
        published = catalog.publish(
            location,
            roles,
            namespace=namespace,
            known_roles=sorted(load_catalog(ws).roles),
            version=version,
            force=force,
            registry=registry,
            public_url=parse_url(public_url).base if public_url else None,
            log=log,
            on_step=on_step,
            on_line=ui.tool_line,
        )
        for item in published:
            ui.finish(item.box.rpartition("/")[2], True, f"{item.action} {item.box} {item.version}")
    for item in published:
        console.print(f"{item.action:>9}  {item.box} {item.version}  {item.image}")
    console.print(f"Catalog {location.base}: done in {time.monotonic() - started:.1f} s (log: {log}).")


@cli.group("catalog")
def catalog_group() -> None:
    """A team's box catalog: Vagrant's metadata.json + .box files, and an image registry."""


def _catalog_dir() -> Path:
    from contrail.catalog_server import default_dir

    return default_dir()


@catalog_group.command("serve")
@click.option(
    "--dir",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: _catalog_dir(),
    show_default="~/.contrail/catalog; as root /var/lib/contrail/catalog",
    help="Where the catalog and the registry keep their files.",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8070, show_default=True)
@click.option("--listen", default="127.0.0.1", show_default=True, help="Address to bind (a team server: its own).")
@click.option("--show-credentials", is_flag=True, help="Print the generated user:password.")
@click.option("--stop", is_flag=True, help="Stop the servers of this directory.")
def catalog_serve(root: Path, port: int, listen: str, show_credentials: bool, stop: bool) -> None:
    """Serve a catalog over HTTP (nginx) with an image registry (docker-registry) beside it. Publishing
    and the registry need the generated user and password (--show-credentials); catalog files are
    readable by anyone who reaches the port."""
    from contrail import catalog_server

    if stop:
        stopped = catalog_server.stop(root)
        console.print(f"catalog server for {root} {'stopped' if stopped else 'was not running'}.")
        return
    served = catalog_server.serve(root, port, listen)
    state = "already serving" if served.already_running else "serving"
    console.print(f"{state} {served.root} at {served.url} (registry: {served.url.split('//')[1]})")
    creds = catalog_server.credentials(root) if show_credentials else "USER:PASSWORD"
    host = served.url.split("//")[1]
    console.print(f"publish with: contrail publish --catalog http://{creds}@{host}", markup=False)
    if listen not in ("127.0.0.1", "::1", "localhost"):
        console.print(
            f"warning: listening on {listen} over plain HTTP: the credentials of every write and image pull, "
            "and every catalog file, cross the network in clear; put TLS in front of it",
            style="yellow",
            markup=False,
        )
    console.print(f"stop it with: contrail catalog serve --dir {served.root} --stop", markup=False)


@catalog_group.command("list")
@catalog_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def catalog_list(catalog_url: str, as_json: bool) -> None:
    """Boxes, versions, providers, sizes and checksums in a catalog."""
    from contrail import catalog
    from contrail.catalog_store import parse_url

    location = parse_url(catalog_url)
    rows = catalog.rows(location)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    table = Table(title=f"box catalog {location.base}")
    for column in ("box", "version", "provider", "box size", "image size", "sha256", "image"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r.box,
            r.version,
            r.provider,
            f"{r.size / 1e3:.1f} kB",
            f"{r.image_size / 1e6:.0f} MB" if r.image_size else "",
            r.checksum[:16],
            r.image.rpartition("/")[2][:40] if r.image else "",
        )
    console.print(table)
    if not rows:
        console.print("The catalog is empty: `contrail publish --catalog URL` adds the built boxes.")


@catalog_group.command("prune")
@catalog_option
@click.option("--keep", type=int, default=3, show_default=True, help="Versions of each box to keep.")
def catalog_prune(catalog_url: str, keep: int) -> None:
    """Remove all but the newest KEEP versions of every box (files and registry images)."""
    from contrail import catalog
    from contrail.catalog_store import parse_url

    for item in catalog.prune(parse_url(catalog_url), keep):
        removed = ", ".join(item.removed) or "nothing"
        console.print(f"{item.box}: removed {removed}; kept {', '.join(item.kept)}; {item.images_deleted} images")


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
    from contrail import github

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
    for node in team.remove_disabled(cfg):
        console.print(f"  removed   {cfg.name}-{node} (its service is no longer enabled in {team.FILENAME})")
    with console.status(f"vagrant up ({cfg.dir}) …"):
        report = team.up(cfg)
    table = Table(title=f"team {cfg.name}")
    for column in ("node", "box", "address", "answers"):
        table.add_column(column)
    for node, ok in report:
        table.add_row(node.name, node.role, f"{node.ip}:{node.port}", "[green]yes[/]" if ok else "[red]no[/]")
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


engine_option = click.option(
    "--engine",
    type=click.Choice(["postgresql", "mysql"]),
    default="postgresql",
    show_default=True,
    help="Which staging database.",
)


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

    cfg = _project_config(Path.cwd())
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


def _project_config(project: Path) -> DevConfig:
    from contrail import config

    toml = project / config.FILENAME
    if not toml.exists():
        raise ContrailError(f"no {config.FILENAME} in {project}", "run `contrail startdev --vagrant` first")
    return config.load(toml)


@cli.command("startdev")
@click.option(
    "--vagrant", "use_vagrant", is_flag=True, default=True, help="Render a Vagrant environment (the default)."
)
@click.option("--name", help="Environment name (first run; default: the directory's name).")
@click.option("--wsgi", metavar="MODULE:CALLABLE", help="WSGI entry point (first run; detected for Django).")
@click.option("--web", type=int, help="Nginx nodes (first run; default 2).")
@click.option("--app", "app_nodes", type=int, help="App servers (first run; default 3).")
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
@click.option("--force", is_flag=True, help="Overwrite rendered files even if you changed them.")
def startdev_cmd(
    use_vagrant: bool,
    name: str | None,
    wsgi: str | None,
    web: int | None,
    app_nodes: int | None,
    port: int | None,
    stats_port: int | None,
    db_engine: str | None,
    catalog: str | None,
    force: bool,
) -> None:
    """Render Vagrantfile, fabfile.py and contrail.toml for the app in this directory (cookiecutter)."""
    from contrail import adapt, devenv

    for label, value in (("--web", web), ("--app", app_nodes)):
        if value is not None and not 1 <= value <= 20:
            raise ContrailError(f"{label} must be from 1 to 20 (got {value})")
    request = devenv.Request(
        name=name,
        wsgi=wsgi,
        web=web,
        app=app_nodes,
        host_port=port,
        stats_port=stats_port,
        db_engine=db_engine,
        catalog=catalog,
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
    from contrail import deploy, devenv
    from contrail.environment import dev
    from contrail.environment.core import REMOVED
    from contrail.ui import BuildProgress

    cfg = _project_config(Path.cwd())
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
    if not all(h.healthy for h in report):
        raise ContrailError("some nodes are not healthy", "see the table above and `contrail up -v`")
    console.print(f"Up in {time.monotonic() - started:.1f} s: http://127.0.0.1:{cfg.host_port}/ — next: `fab push`")


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--watch", is_flag=True, help="Refresh the table every second until Ctrl-C.")
def status_cmd(as_json: bool, watch: bool) -> None:
    """Each node: container state, health, live release, requests/s and 5xx HAProxy sees."""
    from rich.live import Live

    from contrail import deploy, fabtasks
    from contrail.environment import dev
    from contrail.environment.health import health

    cfg = _project_config(Path.cwd())
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
    from contrail import drill

    cfg = _project_config(Path.cwd())
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
    from contrail import logs
    from contrail.environment import dev

    cfg = _project_config(Path.cwd())
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
    from contrail import check, deploy, flow

    cfg = _project_config(Path.cwd())
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
    from contrail import verify

    status = verify.verify(_project_config(Path.cwd()), list(pytest_args))
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
    from contrail import load

    cfg = _project_config(Path.cwd())
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

    cfg = _project_config(Path.cwd())
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


def main() -> None:
    """Entry point: every ContrailError and usage error becomes one line on stderr."""
    try:
        cli.main(prog_name="contrail", standalone_mode=False)
    except ContrailError as err:
        err_console.print(f"contrail: error: {err}", markup=False, soft_wrap=True)
        sys.exit(err.exit_status)
    except click.UsageError as err:
        command = err.ctx.command_path if err.ctx else "contrail"
        err_console.print(
            f"contrail: error: {err.format_message()} (see `{command} --help`)", markup=False, soft_wrap=True
        )
        sys.exit(2)
    except click.exceptions.Abort:
        err_console.print("contrail: interrupted", markup=False)
        sys.exit(130)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
