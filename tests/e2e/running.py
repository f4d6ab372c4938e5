"""A running example environment for end-to-end tests: started by the real CLI, driven by `fab`, loaded
by a client that never resends."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from contrail.watch import load
from contrail.watch.load import LoadReport
from tests.conftest import REPO, Result, contrail
from tests.integration.test_startdev import free_port

FAB = str(Path(sys.executable).parent / "fab")
LEAD = 5.0  # seconds of load before the action under test starts


@dataclass(frozen=True)
class Env:
    project: Path
    name: str
    port: int
    rendered: str = ""  # what the first `contrail startdev` printed

    def fab(self, *args: str) -> Result:
        done = subprocess.run([FAB, *args], cwd=self.project, capture_output=True, text=True, timeout=600)
        return Result(done.returncode, done.stdout, done.stderr)

    def get(self, path: str = "/", host: str = "127.0.0.1", port: int | None = None) -> tuple[int, Message, str]:
        """Status, headers (case-insensitive: HAProxy lowercases names) and body."""
        with urllib.request.urlopen(f"http://{host}:{port or self.port}{path}", timeout=10) as response:
            return response.status, response.headers, response.read().decode()


@contextmanager
def example_environment(tmp_path_factory: object, prefix: str) -> Iterator[Env]:
    """The Django example, rendered by `startdev` and brought up by `up`; destroyed afterwards."""
    project = tmp_path_factory.mktemp(prefix) / "shop"  # type: ignore[attr-defined]
    shutil.copytree(REPO / "examples" / "django-app", project)
    with environment(project, prefix) as running:
        yield running


@contextmanager
def environment(project: Path, prefix: str, *startdev: str, settings: dict[str, str] | None = None) -> Iterator[Env]:
    """The app in `project` rendered by `startdev` (with `startdev` options), contrail.toml then edited
    as a user would (`settings`: old text → new) and rendered again, brought up by `up`; destroyed
    afterwards. The first startdev's output is the Env's `rendered`."""
    name, port = f"{prefix}-{uuid.uuid4().hex[:6]}", free_port()
    args = ("--name", name, "--port", str(port), "--stats-port", str(free_port()), *startdev)
    rendered = contrail("startdev", "--vagrant", *args, cwd=project)
    assert rendered.status == 0, rendered.stderr
    if settings:
        toml = project / "contrail.toml"
        text = toml.read_text()
        for old, new in settings.items():
            assert old in text, old
            text = text.replace(old, new)
        toml.write_text(text)
        again = contrail("startdev", cwd=project)
        assert again.status == 0, again.stderr
    try:
        up = contrail("up", cwd=project)
        assert up.status == 0, up.stdout + up.stderr
        print(up.stdout)
        yield Env(project, name, port, rendered.stdout)
    finally:
        if leftovers(name):
            contrail("destroy", cwd=project)


def ssh(project: Path, node: str, command: str, timeout: float = 300) -> str:
    """`command` on a node of the environment in `project`, through its ssh config; its stdout."""
    done = subprocess.run(
        ["ssh", "-F", str(project / ".contrail" / "ssh_config"), node, command],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def leftovers(name: str) -> list[str]:
    containers = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=org.contrail.environment={name}"], capture_output=True, text=True
    ).stdout.split()
    return containers


def under_load(env: Env, action: Callable[[], Result], settle: float = 2.0) -> tuple[Result, float, LoadReport]:
    """Run `action` LEAD s into a load on the front door that goes on until `settle` s after the action
    ended; (its result, when it ended since the load started, the load's report)."""
    stop = threading.Event()
    reports: list[LoadReport] = []
    url = f"http://127.0.0.1:{env.port}/"
    worker = threading.Thread(
        target=lambda: reports.append(load.run(url, seconds=900, max_requests=10**9, concurrency=8, stop=stop))
    )
    started = time.monotonic()
    worker.start()
    time.sleep(LEAD)
    try:
        result = action()
        ended = time.monotonic() - started
        time.sleep(settle)
    finally:
        stop.set()
        worker.join()
    print(result.stdout, result.stderr, reports[0].summary(), sep="\n")
    return result, ended, reports[0]
