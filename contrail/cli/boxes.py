"""`contrail build-boxes`, `boxes`, `doctor`, `apt-cache`: the box factory's commands."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

import click
from rich.table import Table

from contrail import doctor
from contrail.boxes import aptcache
from contrail.boxes.builders import BUILDERS
from contrail.cli.common import cli, console, namespace_option
from contrail.errors import ContrailError
from contrail.workspace import workspace

if TYPE_CHECKING:
    pass


provider_option = click.option(
    "--provider",
    type=click.Choice(sorted(BUILDERS)),
    default="docker",
    show_default=True,
    help="The provider the boxes are for: docker (images), libvirt or virtualbox (VMs).",
)


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
@provider_option
@click.option("-v", "--verbose", is_flag=True, help="Stream Packer's and debootstrap's own output.")
@namespace_option
def build_boxes_cmd(
    roles: tuple[str, ...],
    jobs: int,
    force: bool,
    apt_cache: str | None,
    dry_run: bool,
    smoke_timeout: float,
    provider: str,
    verbose: bool,
    namespace: str,
) -> None:
    """Build the prebaked box of each ROLE (default: every role) with Packer, from one Debian base."""
    from contrail.boxes.build import BuildOptions, build_boxes
    from contrail.ui import BuildProgress

    started = time.monotonic()
    proxy = aptcache.resolve(apt_cache) if apt_cache else None
    options = BuildOptions(
        roles=roles,
        jobs=jobs,
        force=force,
        namespace=namespace,
        provider=provider,
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
@provider_option
@namespace_option
def boxes_cmd(show_all: bool, as_json: bool, provider: str, namespace: str) -> None:
    """List the built boxes: role, version, input hash, built at, size, image id (a VM box: its directory)."""
    from contrail.tools.docker import server_version

    if provider == "docker":
        server_version()
    boxes = [b for b in BUILDERS[provider].store(namespace).all() if show_all or b.is_current]
    if as_json:
        click.echo(json.dumps([asdict(b) for b in boxes], indent=2))
        return
    table = Table(title=f"{namespace} boxes ({provider} provider)")
    for column in (
        "role",
        "version",
        "input hash",
        "built at",
        "size",
        "image id" if provider == "docker" else "directory",
        "current",
    ):
        table.add_column(column)
    for b in boxes:
        table.add_row(
            b.role,
            b.version,
            b.input_hash[:12],
            b.built_at,
            f"{b.size / 1e6:.0f} MB",
            b.image_id.removeprefix("sha256:")[:12] if provider == "docker" else b.image_id,
            "✓" if b.is_current else "",
        )
    console.print(table)
    if not boxes:
        flag = "" if provider == "docker" else f" --provider {provider}"
        console.print(f"No boxes yet: run `contrail build-boxes{flag}`.")


@cli.command("prune-boxes")
@click.option("--keep", type=click.IntRange(min=0), default=1, show_default=True, help="Older versions kept per role.")
@click.option(
    "--provider",
    type=click.Choice(["libvirt", "virtualbox"]),
    default="libvirt",
    show_default=True,
    help="Whose VM boxes (docker boxes are images: `docker image prune`).",
)
@namespace_option
def prune_boxes_cmd(keep: int, provider: str, namespace: str) -> None:
    """Remove old VM boxes: from this machine's store, from Vagrant and (libvirt) from libvirt's storage
    pool (each role's current box and the KEEP newest others stay)."""
    from contrail.boxes.vmstore import VmBoxStore

    said = VmBoxStore(namespace, provider).prune(keep, workspace().new_log("prune-boxes"))
    for line in said:
        console.print(line)
    if not said:
        console.print(f"Nothing to prune: no role has more than {keep} older version(s).")


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
    bad = [f for f in findings if not f.ok and f.required]
    if any(not f.ok and not f.required for f in findings):
        console.print("VMs (the libvirt provider) cannot run here until the rows above say yes; containers can.")
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
    from contrail.boxes.images import BoxStore

    url = aptcache.up(BoxStore(namespace), port)
    console.print(f"apt cache answering at {url} — builds: contrail build-boxes --apt-cache {url}")


@apt_cache_group.command("down")
def apt_cache_down() -> None:
    """Stop the apt cache (its volume, the cached packages, stays)."""
    aptcache.down()
    console.print("apt cache stopped.")
