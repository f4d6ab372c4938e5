"""`contrail publish` and `contrail catalog serve|list|prune`: the box catalog's commands."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from contrail.boxes.builders import BUILDERS
from contrail.cli.common import catalog_option, cli, console, namespace_option
from contrail.workspace import workspace

if TYPE_CHECKING:
    pass


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
@click.option(
    "--provider",
    type=click.Choice(sorted(BUILDERS)),
    default="docker",
    show_default=True,
    help="Which boxes: docker images, or VMs' (`contrail build-boxes --provider libvirt|virtualbox`).",
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
    provider: str,
    verbose: bool,
    namespace: str,
) -> None:
    """Publish the current box of each ROLE (default: every built role) to a team catalog."""
    from contrail.boxes.roles import load_catalog
    from contrail.catalog import publish as catalog
    from contrail.catalog.store import parse_url
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
            provider=provider,
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
    from contrail.catalog.server import default_dir

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
    from contrail.catalog import server as catalog_server

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
    from contrail.catalog import publish as catalog
    from contrail.catalog.store import parse_url

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
    from contrail.catalog import publish as catalog
    from contrail.catalog.store import parse_url

    for item in catalog.prune(parse_url(catalog_url), keep):
        removed = ", ".join(item.removed) or "nothing"
        console.print(f"{item.box}: removed {removed}; kept {', '.join(item.kept)}; {item.images_deleted} images")
