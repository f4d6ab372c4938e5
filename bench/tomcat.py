"""The Java iteration loop: a changed .war → live on all 3 Tomcat app servers, by `fab push --all-at-once`
and the rolling `fab push` (one server at a time, canary first), against the naive loop, in one run.

Why: a Tomcat push deploys the new .war beside the live version through Tomcat's manager (parallel
deployment) in a JVM that keeps running; the alternative a Java team reaches for first is to bake the
.war into the server's image and recreate the servers, which pays a container start and a JVM start on
every change. This measures what the push saves, with the same environment, .war and check for both.

One environment: the Java example (examples/java-app) in the default topology (proxy, 2 web, 3 Tomcat,
database, cache; ports chosen free). Each run changes the page's <h1> (VisitsServlet.java) and builds
the .war with ./build.sh *before* its timer starts: the build is the same for both loops and not what is
compared. A run ends when every app server, asked directly on :8000, serves the new heading.
- fab push: Contrail's push of the .war. Where the time goes: the push's own phases as it prints them
  (lock, upload, switch, front door) and the rest (Fabric starting, Python imports, the served check);
  the JVM's part is what Tomcat logs for deploying the release's .war ("Deployment of web application
  archive [...ROOT##<release>.war] has finished in [N] ms"): the slowest of the 3 for --all-at-once
  (deployed together), the sum for the rolling push (one after the other).
- naive: `docker build` an image FROM the tomcat box with the .war as webapps/ROOT.war (owned by tomcat,
  the box's placeholder ROOT directory and its compiled JSPs removed, /srv/app/current on a release that
  is not the placeholder so configure starts Tomcat), point the Vagrantfile's app machines at it,
  `vagrant destroy -f` + `vagrant up` them. Its steps are timed apart; the JVM's part is the "Server
  startup in [N] milliseconds" of the Tomcat that serves (configure restarts the one the box's
  supervisor started, to read app.env and the DataSource), the slowest of the 3.
Also measured once: `contrail up` of the 8 nodes from built boxes, the first push, `contrail destroy`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import contrail, report
from bench.push import APP_IMAGE, FAB, PHASE, free_port, point_apps_at, served_everywhere, sh
from contrail import config, topology

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("VAGRANT_CHECKPOINT_DISABLE", "1")  # no update check over the network
SERVLET = Path("src/main/java/example/VisitsServlet.java")
WAR = Path("target/java-app.war")
HEADING = "Hello from Contrail on Tomcat"
APP_LOG = "/var/log/supervisor/app.log"  # Tomcat's console (every logger), as the box's supervisor writes it
RELEASE = re.compile(r"release (\S+) live on")
DEPLOYED = re.compile(r"\.war\] has finished in \[(\d+)\] ms")
STARTED = re.compile(r"Server startup in \[(\d+)\] milliseconds")
NAIVE_TAG = "contrail-bench/naive-tomcat"
DOCKERFILE = """FROM {base}
COPY --chown=tomcat:tomcat ROOT.war /var/lib/tomcat10/webapps/ROOT.war
RUN rm -rf /var/lib/tomcat10/webapps/ROOT /var/lib/tomcat10/work/Catalina/localhost/ROOT \\
 && install -d -o vagrant -g vagrant /srv/app/releases/naive \\
 && echo naive > /srv/app/releases/naive/.contrail-release \\
 && ln -sfn /srv/app/releases/naive /srv/app/current \\
 && chown -h vagrant:vagrant /srv/app/current
"""


def java_project(directory: Path, name: str) -> Path:
    """The Java example copied into `directory`, its .war built, rendered by `startdev` as `name`."""
    project = directory / "shop"
    shutil.copytree(REPO / "examples" / "java-app", project, ignore=shutil.ignore_patterns("target"))
    sh("./build.sh", cwd=project)
    contrail("startdev", "--name", name, "--port", str(free_port()), "--stats-port", str(free_port()), cwd=project)
    if config.load(project / "contrail.toml").app.framework != "tomcat":
        raise SystemExit("bench: startdev did not detect the .war (app.framework is not tomcat)")
    return project


def edit_and_build(project: Path, marker: str) -> str:
    """The page's <h1> changed and the .war built (untimed): the heading every server must then serve."""
    heading = f"<h1>{HEADING}, edit {marker}</h1>"
    servlet = project / SERVLET
    servlet.write_text(re.sub(r"<h1>[^<]*</h1>", heading, servlet.read_text()))
    sh("./build.sh", cwd=project)
    return heading


def app_logs(cfg: config.DevConfig, pattern: str) -> dict[str, str]:
    """The lines of each app server's Tomcat log that hold `pattern` (read after the timed part)."""
    found: dict[str, str] = {}
    for node in topology.by_role(cfg, "app"):
        done = subprocess.run(
            ["docker", "exec", f"{cfg.name}-{node.name}", "grep", "-F", pattern, APP_LOG],
            capture_output=True,
            text=True,
        )
        found[node.name] = done.stdout
    return found


def deploy_ms(cfg: config.DevConfig, rid: str) -> list[float]:
    """Seconds each Tomcat logged for deploying release `rid`'s .war (a server that logged none is named)."""
    seconds: list[float] = []
    for node, lines in app_logs(cfg, f"ROOT##{rid}.war] has finished in").items():
        times = DEPLOYED.findall(lines)
        if not times:
            print(f"bench: {node} logged no deploy of release {rid}", file=sys.stderr)
            continue
        seconds.append(int(times[-1]) / 1000)
    return seconds


def fab_push_loop(project: Path, cfg: config.DevConfig, marker: str, *flags: str) -> tuple[float, dict[str, float]]:
    """Wall time from `fab push` until every app server serves the change; the push's phases and the JVM's
    deploy times (keyed "jvm": slowest for --all-at-once, sum for rolling)."""
    heading = edit_and_build(project, marker)
    started = time.monotonic()
    printed = sh(FAB, "push", *flags, cwd=project)
    served_everywhere(cfg, heading)
    wall = time.monotonic() - started
    summary = " ".join(printed.split()).split(" s ", 1)[-1]  # after "live on 3 app servers in N.NN s"
    phases = {name.strip(): float(seconds) for name, seconds in PHASE.findall(summary)}
    phases["the rest (fab starting, imports, served check)"] = wall - sum(phases.values())
    rid = RELEASE.search(printed)
    if rid:
        deploys = deploy_ms(cfg, rid.group(1))
        if deploys:
            phases["jvm"] = max(deploys) if "--all-at-once" in flags else sum(deploys)
    return wall, phases


def naive_loop(project: Path, cfg: config.DevConfig, marker: str, build: Path) -> dict[str, float]:
    """The .war baked into an image FROM the tomcat box, the 3 app machines recreated from it; each step's
    wall time, the whole loop's ("total") and the serving Tomcats' slowest startup ("jvm")."""
    heading = edit_and_build(project, marker)
    apps = [n.name for n in topology.by_role(cfg, "app")]
    spent: dict[str, float] = {}
    started = last = time.monotonic()

    def done(step: str) -> None:
        nonlocal last
        now = time.monotonic()
        spent[step] = now - last
        last = now

    shutil.copyfile(project / WAR, build / "ROOT.war")
    tag = f"{NAIVE_TAG}:{marker}"
    sh("docker", "build", "-q", "-t", tag, str(build), cwd=project)
    point_apps_at(project, cfg, tag)
    done("docker build")
    sh("vagrant", "destroy", "-f", *apps, cwd=project)
    done("vagrant destroy")
    sh("vagrant", "up", *apps, cwd=project)
    done("vagrant up (container, configure, Tomcat)")
    served_everywhere(cfg, heading)
    done("served check")
    spent["total"] = time.monotonic() - started
    startups = [STARTED.findall(lines) for lines in app_logs(cfg, "Server startup in").values()]
    if all(startups):
        spent["jvm"] = max(int(times[-1]) / 1000 for times in startups)
    return spent


def keep_logs(project: Path, cfg: config.DevConfig) -> Path:
    """After a failure, before the environment goes: the project's .contrail/logs and each Tomcat's log."""
    kept = Path(tempfile.mkdtemp(prefix="contrail-bench-tomcat-logs-"))
    if (project / ".contrail" / "logs").is_dir():
        shutil.copytree(project / ".contrail" / "logs", kept / "logs")
    for node in topology.by_role(cfg, "app"):
        with (kept / f"{node.name}-app.log").open("w") as out:
            subprocess.run(["docker", "exec", f"{cfg.name}-{node.name}", "cat", APP_LOG], stdout=out, check=False)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10, help="pushes of each kind (median of these)")
    parser.add_argument("--naive-runs", type=int, default=3)
    args = parser.parse_args()
    contrail("build-boxes", "tomcat")  # not built by default; reused when unchanged
    kinds = {"fab push --all-at-once": ["--all-at-once"], "fab push (rolling)": []}
    short = {"fab push --all-at-once": "all-at-once", "fab push (rolling)": "rolling"}
    jvm = {
        "fab push --all-at-once": "all-at-once: JVM .war deploy (slowest of 3)",
        "fab push (rolling)": "rolling: JVM .war deploys (sum of 3)",
    }
    naive_total = "naive: image rebuild + recreate 3 Tomcats"
    naive_labels = {"total": naive_total, "jvm": "naive: JVM startup of the serving Tomcat (slowest of 3)"}
    with tempfile.TemporaryDirectory(prefix="contrail-bench-") as tmp:
        project = java_project(Path(tmp), "bench-tomcat")
        cfg = config.load(project / "contrail.toml")
        pushes: dict[str, list[float]] = {kind: [] for kind in kinds}
        phases: dict[str, list[float]] = {}
        naive: dict[str, list[float]] = {}
        destroys: list[float] = []
        try:
            ups = [contrail("up", cwd=project)]
            first = [fab_push_loop(project, cfg, "first")[0]]  # from the box's placeholder
            for i in range(args.runs):
                for kind, flags in kinds.items():
                    wall, spent = fab_push_loop(project, cfg, f"run{i}-{short[kind]}", *flags)
                    pushes[kind].append(wall)
                    for phase, seconds in spent.items():
                        label = jvm[kind] if phase == "jvm" else f"  {short[kind]}: {phase}"
                        phases.setdefault(label, []).append(seconds)
            build = Path(tmp) / "naive"
            build.mkdir()
            base = APP_IMAGE.search((project / "Vagrantfile").read_text())
            if not base:
                raise SystemExit("bench: no app machine in the Vagrantfile")
            (build / "Dockerfile").write_text(DOCKERFILE.format(base=base.group(2)))
            for i in range(args.naive_runs):
                for step, seconds in naive_loop(project, cfg, f"naive{i}", build).items():
                    naive.setdefault(naive_labels.get(step, f"  naive: {step}"), []).append(seconds)
        except BaseException:
            print(f"bench: failed; logs kept in {keep_logs(project, cfg)}", file=sys.stderr)
            raise
        finally:
            destroys.append(contrail("destroy", cwd=project, check=False))
            subprocess.run(
                f"docker images -q {NAIVE_TAG} | xargs -r docker rmi -f", shell=True, capture_output=True, check=False
            )
    report(
        "tomcat",
        {
            "contrail up, 8 nodes (3 Tomcat) from built boxes": ups,
            "contrail destroy, 8 nodes": destroys,
            "first fab push (placeholder → release)": first,
            **pushes,
            **phases,
            naive_total: naive.pop(naive_total),
            **naive,
        },
        {
            "ratio naive / fab push --all-at-once": (naive_total, "fab push --all-at-once"),
            "ratio naive / fab push (rolling)": (naive_total, "fab push (rolling)"),
        },
    )


if __name__ == "__main__":
    main()
