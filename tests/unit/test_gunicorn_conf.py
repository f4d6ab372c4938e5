"""The app box's Gunicorn settings (provision_scripts/contrail-files/gunicorn_conf.py), on the host: a
worker's way out, in a real process that leaves as Gunicorn's worker does (sys.exit in the worker,
the worker_exit hook in its `finally`); the access log, from a real Gunicorn."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import BOX_FILES

WORKER = """
import atexit, importlib.util, sys
spec = importlib.util.spec_from_file_location("gunicorn_conf", {conf!r})
conf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(conf)
atexit.register(lambda: open({marker!r}, "w").write("atexit ran"))
class Teardown:
    def __del__(self):
        print("teardown ran", flush=True)
kept = Teardown()  # a module global: collected by Python's teardown only
print("served", end="")  # unflushed output
try:
    {leave}
finally:
    conf.worker_exit(None, None)
"""


def worker(tmp_path: Path, leave: str) -> subprocess.CompletedProcess[str]:
    marker = tmp_path / "atexit"
    code = WORKER.format(conf=str(BOX_FILES / "gunicorn_conf.py"), marker=str(marker), leave=leave)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env={})


@pytest.mark.parametrize(("leave", "status"), [("sys.exit(0)", 0), ("sys.exit()", 0), ("sys.exit(3)", 3)])
def test_a_worker_leaves_without_pythons_teardown_keeping_its_status_output_and_atexit(
    tmp_path: Path, leave: str, status: int
) -> None:
    done = worker(tmp_path, leave)
    assert done.returncode == status, "a worker that failed to boot (3) must still tell the master"
    assert done.stdout == "served", "output flushed, and no teardown (which would have run __del__)"
    assert (tmp_path / "atexit").read_text() == "atexit ran"


def test_an_unexpected_error_is_left_to_python(tmp_path: Path) -> None:
    done = worker(tmp_path, "raise RuntimeError('boom')")
    assert done.returncode == 1 and "RuntimeError: boom" in done.stderr
    assert "teardown ran" in done.stdout


APP = """
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["PATH_INFO"].encode()]
"""


def test_the_access_log_leaves_out_the_health_checks(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "gunicorn", "--config", str(BOX_FILES / "gunicorn_conf.py")]
    command += ["--bind", f"127.0.0.1:{port}", "--pid", str(tmp_path / "pid"), "--chdir", str(tmp_path), "app"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(100):
            try:
                for path in ("/_contrail/health", "/visits/", "/_contrail/health?full=1"):
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
                        assert answer.read() == path.partition("?")[0].encode()
                break
            except OSError:  # (not listening yet)
                time.sleep(0.1)
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[0]
    access = [line for line in log.splitlines() if '"GET ' in line]
    assert len(access) == 1 and '"GET /visits/ HTTP/1.1" 200' in access[0], log
