"""The `contrail` command: parse, call the library, print. No logic lives here; one module per command
group, each registering its commands on the group in `common`.

The command groups are imported by `main` only: the rendered fabfile imports `contrail.cli.fabtasks`,
and every `fab push` would otherwise pay for importing the whole command line (a tenth of a second)."""

from __future__ import annotations

import sys

from contrail.errors import ContrailError

__all__ = ["main"]


def main() -> None:
    """Entry point: every ContrailError and usage error becomes one line on stderr."""
    import click

    from contrail.cli import boxes, catalog, env, team  # noqa: F401  (each registers its commands)
    from contrail.cli.common import cli, err_console

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
