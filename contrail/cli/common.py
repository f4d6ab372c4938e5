"""What every command group shares: the `contrail` group, the consoles, common options and helpers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from contrail import __version__
from contrail.errors import ContrailError

if TYPE_CHECKING:
    from contrail.config import DevConfig


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


catalog_option = click.option(
    "--catalog",
    "catalog_url",
    envvar="CONTRAIL_CATALOG",
    default="http://127.0.0.1:8070",
    show_default=True,
    metavar="URL",
    help="http(s)://[USER:PASSWORD@]HOST:PORT, file:///DIR or a directory.",
)


engine_option = click.option(
    "--engine",
    type=click.Choice(["postgresql", "mysql"]),
    default="postgresql",
    show_default=True,
    help="Which staging database.",
)


def project_config(project: Path) -> DevConfig:
    """contrail.toml of the project in `project` (the directory a command runs from)."""
    from contrail import config

    toml = project / config.FILENAME
    if not toml.exists():
        raise ContrailError(f"no {config.FILENAME} in {project}", "run `contrail startdev --vagrant` first")
    return config.load(toml)
