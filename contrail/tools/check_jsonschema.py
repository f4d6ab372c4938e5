"""check-jsonschema (a dependency of Contrail): a document checked against one of the schemas it bundles,
offline."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from contrail.errors import FIX_DEPS, ToolFailed, ToolMissing
from contrail.tools.run import run

INVALID = 1  # its exit status for a document that does not match (or does not parse)


def problems(document: Path, builtin_schema: str) -> str:
    """'' when `document` matches the bundled schema; otherwise what check-jsonschema said, on one line.

    ToolMissing when it is not installed; ToolFailed when it could not check (any other exit status).
    """
    if importlib.util.find_spec("check_jsonschema") is None:
        raise ToolMissing("check-jsonschema is not installed", FIX_DEPS)
    args = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", builtin_schema, str(document)]
    done = run(args, check=False)
    detail = " ".join(done.output.split())[-400:]
    if done.status not in (0, INVALID):
        command = f"check-jsonschema --builtin-schema {builtin_schema}"
        raise ToolFailed(f"`{command}` exited with status {done.status}: {detail}")
    return detail if done.status == INVALID else ""
