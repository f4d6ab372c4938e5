"""The import rules of ARCHITECTURE.md, enforced: which part of Contrail may import which, that only the
front ends print, and that no module outside contrail/tools/ starts a process."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "contrail"
SHARED = {"errors", "config", "secrets", "workspace", "topology", "ui", "doctor"}
NEVER = {
    "tools": {"boxes", "catalog", "environment", "deploy", "watch", "staging", "scaffold", "team", "cli", *SHARED}
    - {"errors"},
    "shared": {"boxes", "environment", "deploy", "watch", "staging", "scaffold", "team", "cli"},
    "boxes": {"environment", "deploy", "watch", "staging", "scaffold", "team", "cli"},
    "catalog": {"environment", "deploy", "watch", "staging", "scaffold", "team", "cli"},
    "environment": {"deploy", "watch", "staging", "scaffold", "team", "cli"},
    "deploy": {"watch", "staging", "scaffold", "team", "cli", "boxes"},
    "staging": {"boxes", "catalog", "environment", "deploy", "watch", "scaffold", "team", "cli"},
    "watch": {"staging", "scaffold", "team", "cli"},
    "scaffold": {"watch", "staging", "team", "cli"},
    "team": {"watch", "cli"},
}
FRONT_ENDS = {"cli", "ui.py"}


def part(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    if relative.name == "__main__.py":  # `python -m contrail`: the command itself
        return "cli"
    return relative.parts[0] if len(relative.parts) > 1 else "shared"


SEAM = "contrail.environment.providers"  # the provider seam: the catalog packages boxes through it


def imported_parts(path: Path) -> set[str]:
    """The parts (or shared modules, by name) a module imports, lazily or not; the provider seam counts as
    its own part ("providers")."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "contrail":
            if node.module == "contrail":
                names = [f"contrail.{a.name}" for a in node.names]
            elif node.module == "contrail.environment":
                names = [f"contrail.environment.{a.name}" for a in node.names]
            else:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "contrail"]
        found |= {"providers" if name.startswith(SEAM) else name.split(".")[1] for name in names if "." in name}
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_part_imports_only_what_the_architecture_allows(module):
    forbidden = NEVER.get(part(module), set()) & imported_parts(module)
    assert not forbidden, f"{module.relative_to(PACKAGE)} imports {sorted(forbidden)} (see ARCHITECTURE.md)"


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_front_ends_print_and_only_tools_start_processes(module):
    relative = module.relative_to(PACKAGE)
    tree = ast.parse(module.read_text())
    calls = {
        node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
    }
    front_end = relative.parts[0] in FRONT_ENDS or str(relative) in FRONT_ENDS
    if not front_end and relative.name != "verify_checks.py":  # pytest's checks, run by pytest
        assert not calls & {"print", "Console"}, f"{relative} prints: return results or report through a callback"
    if relative.parts[0] != "tools":
        imports = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert "subprocess" not in imports, f"{relative} starts processes: put the program behind contrail/tools/"


def test_a_push_imports_neither_vagrant_nor_the_catalogs_publishing():
    probe = (
        "import sys, contrail.deploy\n"
        "print(sorted(m for m in sys.modules if m == 'vagrant' or m.startswith('contrail.catalog.publish')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
