"""The app box's WSGI wrapper (provision_scripts/contrail-files/contrail_wsgi.py), run as Gunicorn's
workers run it: in a fresh Python whose `current` symlink then moves to another release."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

LIB = REPO / "provision_scripts" / "contrail-files"
WORKER = """
import io, json, os, sys
sys.path.insert(0, os.environ["CURRENT"])  # as Gunicorn's --chdir does: the symlink on sys.path
import contrail_wsgi
os.replace(os.environ["NEXT"], os.environ["CURRENT"])  # a push switches `current` while the worker runs

def call(path):
    seen = {}
    body = b"".join(contrail_wsgi.application({"PATH_INFO": path}, lambda s, h, e=None: seen.update(h=dict(h))))
    return body.decode(), seen["h"]

page, headers = call("/")
health, _ = call("/_contrail/health")
print(json.dumps({"page": page, "release header": headers["X-Contrail-Release"], "health": json.loads(health)}))
"""


def release(root: Path, name: str) -> None:
    directory = root / "releases" / name
    directory.mkdir(parents=True)
    (directory / ".contrail-release").write_text(name + "\n")
    (directory / ".contrail-code").write_text(f"code-of-{name}\n")
    (directory / "shopapp.py").write_text(
        "def application(environ, start_response):\n"
        "    import later  # imported on the first request, after `current` moved\n"
        "    start_response('200 OK', [])\n"
        "    return [later.TEXT.encode()]\n"
    )
    (directory / "later.py").write_text(f"TEXT = 'page of {name}'\n")


def test_a_worker_serves_and_reports_the_release_it_booted_on(tmp_path: Path) -> None:
    release(tmp_path, "r1")
    release(tmp_path, "r2")
    current, upcoming = tmp_path / "current", tmp_path / ".current-r2"
    current.symlink_to("releases/r1")
    upcoming.symlink_to("releases/r2")
    environment = {
        **os.environ,
        "PYTHONPATH": str(LIB),
        "CONTRAIL_APP_DIR": str(current),
        "CONTRAIL_WSGI": "shopapp:application",
        "CONTRAIL_NODE": "app1",
        "CURRENT": str(current),
        "NEXT": str(upcoming),
    }
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(LIB)!r})\n" + WORKER],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["page"] == "page of r1", "a module imported after the switch comes from the worker's release"
    assert seen["release header"] == "r1"
    assert seen["health"]["release"] == "r1" and seen["health"]["code"] == "code-of-r1"
    assert seen["health"]["current"] == "r2", "what `current` names now, reported beside what is served"
