"""Shared fixtures: a private copy of the role data, and running the real `contrail` command."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
BOX_FILES = REPO / "provision_scripts" / "contrail-files"  # what every box build uploads


@dataclass(frozen=True)
class Result:
    status: int
    stdout: str
    stderr: str


def contrail(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 1800) -> Result:
    """Run the real CLI (`python -m contrail`) as a user would."""
    done = subprocess.run(
        [sys.executable, "-m", "contrail", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def role_tree(tmp_path: Path) -> Path:
    """A copy of boxes/ and provision_scripts/ that a test may edit; point CONTRAIL_ROOT at it."""
    root = tmp_path / "roles-root"
    shutil.copytree(REPO / "boxes", root / "boxes")
    shutil.copytree(REPO / "provision_scripts", root / "provision_scripts")
    return root


def current_boxes(cwd: Path) -> dict[str, str]:
    """role → image id of its current box, as `contrail boxes --json` reports them."""
    import json

    result = contrail("boxes", "--json", cwd=cwd)
    assert result.status == 0, result.stderr
    return {b["role"]: b["image_id"] for b in json.loads(result.stdout)}


@pytest.fixture(scope="session")
def built_boxes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every default role built (or found up to date) once per test run; the state dir it used."""
    state = tmp_path_factory.mktemp("factory")
    result = contrail("build-boxes", "-j", "2", cwd=state)
    print(result.stdout, result.stderr)
    assert result.status == 0, result.stderr
    return state


@pytest.fixture(scope="session")
def django_releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where tests.userapps.django_tools installs Django releases from the registry, once per run."""
    return tmp_path_factory.mktemp("django-releases")


FIGURES: list[str] = []


@pytest.fixture
def figures() -> list[str]:
    """What a test measured (requests, failures, recovery time…): printed at the end of every run."""
    return FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("measured")
        for line in FIGURES:
            terminalreporter.write_line(line)


@dataclass(frozen=True)
class Catalog:
    """A running `contrail catalog serve` and its URLs (with and without its credentials)."""

    root: Path
    port: int
    credentials: str

    @property
    def url(self) -> str:
        return f"http://{self.credentials}@127.0.0.1:{self.port}"

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def served_directory(prefix: str) -> Iterator[Path]:
    """A directory for `catalog serve` that its service user can reach (pytest's temporary directories
    are closed to other users, as a home directory is), removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    try:
        yield root / "catalog"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def catalog_server() -> Iterator[Catalog]:
    """The real catalog servers (nginx + docker-registry) with basic auth, once per test run."""
    with served_directory("contrail-test-catalog-") as root:
        port = free_loopback_port()
        served = contrail("catalog", "serve", "--dir", str(root), "--port", str(port), cwd=root.parent)
        assert served.status == 0, served.stderr
        try:
            yield Catalog(root, port, (root / "run" / "credentials").read_text().strip())
        finally:
            contrail("catalog", "serve", "--dir", str(root), "--stop", cwd=root.parent)
            subprocess.run(["docker", "logout", f"127.0.0.1:{port}"], capture_output=True)


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


TOPOLOGY_ROLES = ("proxy", "web", "app", "db", "cache")


@pytest.fixture(scope="session")
def published_catalog(built_boxes: Path, catalog_server: Catalog) -> Catalog:
    """Every built box published once to the session's catalog."""
    result = contrail("publish", "--catalog", catalog_server.url, cwd=built_boxes)
    print(result.stdout)
    assert result.status == 0, result.stderr
    return catalog_server


def one_line_error(result: Result, pattern: str) -> None:
    """Bad input as a user sees it: exit status 2, nothing on stdout, one `contrail: error:` line matching
    `pattern` on stderr."""
    assert result.status == 2, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("contrail: error: ")
    assert re.search(pattern, lines[0]), lines[0]


def box_script(name: str) -> ModuleType:
    """A Python script the boxes install (provision_scripts/contrail-files/NAME, no .py), imported for
    its unit tests."""
    module_name = name.replace("-", "_")
    loader = importlib.machinery.SourceFileLoader(
        module_name, str(REPO / "provision_scripts" / "contrail-files" / name)
    )
    spec = importlib.util.spec_from_loader(module_name, loader)
    assert spec
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # (dataclasses look their module up there)
    written = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # no __pycache__ in contrail-files: every box uploads the directory
    try:
        loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = written
    return module
