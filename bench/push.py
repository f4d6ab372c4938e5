"""The iteration loop: a one-line change → live on all 3 app servers: `fab push --all-at-once`, the
rolling `fab push` (one server at a time, canary first), each for a template change and a `.py` change,
and the naive loop, in one run.

Both loops run in the same benchmark against one environment (the Django example, default 8-node
topology, ports chosen free). A run ends when every app server, asked directly (all at once), serves
the new text.
- fab push: Contrail's push (code only changed). Where the time goes: the push's own phases (as it
  prints them) and the rest (Fabric starting, Python imports, the check that every server serves it).
- naive: rebuild the app image with the code and its requirements baked in (`docker build` FROM the
  app box), point the Vagrantfile's app machines at it, `vagrant destroy` + `vagrant up` them. The
  image holds what a push would ship: the app's files (without release.EXCLUDES), the adapted settings
  module at the release's root (the app servers run DJANGO_SETTINGS_MODULE=contrail_settings), a venv
  from the same wheels and requirements, and the release id the health endpoint reports.
Also measured: `contrail up` of the 8 nodes from built boxes until healthy (and `contrail destroy`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import contrail, report
from contrail import config, topology
from contrail.deploy import adapt, release

REPO = Path(__file__).resolve().parent.parent
FAB = str(Path(sys.executable).parent / "fab")
os.environ.setdefault("VAGRANT_CHECKPOINT_DISABLE", "1")  # no update check over the network
TEMPLATE = Path("visits/templates/visits/index.html")
VIEWS = Path("visits/views.py")
PHASE = re.compile(r"([a-z][a-z+ ]*?) (\d+\.\d+) s")
APP_IMAGE = re.compile(r'(role: "app",[^\n]*? image: )"([^"]+)"')  # an app machine's line in the Vagrantfile
DOCKERFILE = """FROM {base}
COPY wheels /srv/app/wheels/naive
RUN python3 -m venv --system-site-packages /srv/app/venvs/naive \\
 && /srv/app/venvs/naive/bin/pip install -q --no-index --find-links /srv/app/wheels/naive \\
    -r /srv/app/wheels/naive/requirements.txt
COPY app /srv/app/releases/naive
RUN echo naive > /srv/app/releases/naive/.contrail-release \\
 && ln -sfn /srv/app/venvs/naive /srv/app/releases/naive/venv \\
 && ln -sfn /srv/app/releases/naive /srv/app/current
"""


def example_project(directory: Path, name: str) -> Path:
    """The Django example copied into `directory` and rendered by `startdev` as environment `name`."""
    project = directory / "shop"
    shutil.copytree(REPO / "examples" / "django-app", project)
    contrail("startdev", "--name", name, "--port", str(free_port()), "--stats-port", str(free_port()), cwd=project)
    return project


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def served_everywhere(cfg: config.DevConfig, text: str, timeout: float = 300) -> None:
    """Until every app server, asked directly, serves `text`: all of them asked at once (the observer's
    own round trips, one server after the other, are not the push's time)."""
    deadline = time.monotonic() + timeout

    def serves(ip: str) -> None:
        while True:
            try:
                with urllib.request.urlopen(f"http://{ip}:8000/", timeout=2) as response:
                    if text in response.read().decode():
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: {text!r} never served by {ip}")
            time.sleep(0.02)

    ips = [n.ip for n in topology.by_role(cfg, "app")]
    with ThreadPoolExecutor(len(ips)) as pool:
        list(pool.map(serves, ips))


def edit(project: Path, marker: str, python: bool = False) -> str:
    """A visible one-line change: the page's heading (template) or its database line (`.py`)."""
    text = f"edit {marker}"
    if python:
        views = project / VIEWS
        views.write_text(
            re.sub(r'"database": [^}]*}', f'"database": connection.display_name + " ({text})"}}', views.read_text())
        )
        return text
    template = project / TEMPLATE
    template.write_text(re.sub(r"<h1>.*</h1>", f"<h1>Hello from Contrail, {text}</h1>", template.read_text()))
    return text


def sh(*args: str, cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench: {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def fab_push_loop(
    project: Path, cfg: config.DevConfig, marker: str, *flags: str, python: bool = False
) -> tuple[float, dict[str, float]]:
    """Wall time until every app server serves the change, and the push's own phases."""
    started = time.monotonic()
    text = edit(project, marker, python)
    printed = sh(FAB, "push", *flags, cwd=project)
    served_everywhere(cfg, text)
    wall = time.monotonic() - started
    summary = " ".join(printed.split()).split(" s ", 1)[-1]  # after "live on 3 app servers in N.NN s"
    phases = {name.strip(): float(seconds) for name, seconds in PHASE.findall(summary)}
    phases["the rest (fab starting, imports, served check)"] = wall - sum(phases.values())
    return wall, phases


def naive_release(project: Path, cfg: config.DevConfig, directory: Path) -> None:
    """The app's files as a push ships them into a release: without what release.EXCLUDES names, and for
    Django with devenv/contrail_settings.py at the root as contrail_settings.py (the module the app
    servers' DJANGO_SETTINGS_MODULE names; without it Gunicorn's workers fail to boot)."""
    shutil.rmtree(directory, ignore_errors=True)
    excluded = shutil.ignore_patterns(*(pattern.rstrip("/") for pattern in release.EXCLUDES))
    shutil.copytree(project, directory, ignore=excluded)
    if cfg.app.framework == "django":
        shutil.copyfile(project / adapt.SETTINGS_FILE, directory / f"{adapt.SETTINGS_MODULE}.py")


def point_apps_at(project: Path, cfg: config.DevConfig, image: str) -> None:
    """The rendered Vagrantfile's app machines run `image` (the naive loop's)."""
    vagrantfile = project / "Vagrantfile"
    pointed, count = APP_IMAGE.subn(rf'\1"{image}"', vagrantfile.read_text())
    if count != len(topology.by_role(cfg, "app")):
        raise SystemExit(f"bench: {count} app machines found in {vagrantfile}, not the topology's")
    vagrantfile.write_text(pointed)


def naive_loop(project: Path, cfg: config.DevConfig, marker: str, build: Path) -> float:
    started = time.monotonic()
    text = edit(project, marker)
    naive_release(project, cfg, build / "app")
    tag = f"contrail-bench/naive-app:{marker}"
    sh("docker", "build", "-q", "-t", tag, str(build), cwd=project)
    point_apps_at(project, cfg, tag)
    apps = [n.name for n in topology.by_role(cfg, "app")]
    sh("vagrant", "destroy", "-f", *apps, cwd=project)
    sh("vagrant", "up", *apps, cwd=project)
    served_everywhere(cfg, text)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--naive-runs", type=int, default=3)
    parser.add_argument("--up-runs", type=int, default=10)
    args = parser.parse_args()
    kinds = {
        "fab push --all-at-once, template change": (["--all-at-once"], False),
        "fab push (rolling), template change": ([], False),
        "fab push --all-at-once, .py change": (["--all-at-once"], True),
        "fab push (rolling), .py change": ([], True),
    }
    with tempfile.TemporaryDirectory(prefix="contrail-bench-") as tmp:
        project = example_project(Path(tmp), "bench-push")
        cfg = config.load(project / "contrail.toml")
        ups, destroys = [], []
        pushes: dict[str, list[float]] = {kind: [] for kind in kinds}
        phases: dict[str, list[float]] = {}
        try:
            for run in range(args.up_runs):
                ups.append(contrail("up", cwd=project))
                if run < args.up_runs - 1:
                    destroys.append(contrail("destroy", cwd=project))
            first = [fab_push_loop(project, cfg, "first")[0]]  # builds the wheelhouse and venvs
            for i in range(args.runs):
                for k, (kind, (flags, python)) in enumerate(kinds.items()):
                    wall, spent = fab_push_loop(project, cfg, f"run{i}-kind{k}", *flags, python=python)
                    pushes[kind].append(wall)
                    if kind == "fab push --all-at-once, template change":
                        for phase, seconds in spent.items():
                            phases.setdefault(f"  all-at-once template: {phase}", []).append(seconds)
            build = Path(tmp) / "naive"
            build.mkdir()
            key = release.requirements_key(project / "requirements.txt")
            shutil.copytree(project / ".contrail" / "wheelhouse" / key, build / "wheels")
            app_image = APP_IMAGE.search((project / "Vagrantfile").read_text())
            assert app_image
            (build / "Dockerfile").write_text(DOCKERFILE.format(base=app_image.group(2)))
            naive = [naive_loop(project, cfg, f"naive{i}", build) for i in range(args.naive_runs)]
        finally:
            destroys.append(contrail("destroy", cwd=project, check=False))
            subprocess.run(
                "docker images -q contrail-bench/naive-app | xargs -r docker rmi -f", shell=True, capture_output=True
            )
    report(
        "push",
        {
            "contrail up, 8 nodes from built boxes": ups,
            "contrail destroy, 8 nodes": destroys,
            "first fab push (wheels, venvs, migrate, static)": first,
            **pushes,
            **phases,
            "naive: image rebuild + recreate 3 app nodes": naive,
        },
        {
            "ratio naive / fab push --all-at-once": (
                "naive: image rebuild + recreate 3 app nodes",
                "fab push --all-at-once, template change",
            ),
            "ratio naive / fab push (rolling)": (
                "naive: image rebuild + recreate 3 app nodes",
                "fab push (rolling), template change",
            ),
        },
    )


if __name__ == "__main__":
    main()
