"""Docker through its own CLI (one call ≈ 50 ms; the Python SDK alone takes ~0.5 s to import).

Whether Docker is usable is asked of the daemon (`docker info`), never of the client: a machine can
have a client on the PATH and no engine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from contrail.errors import FIX_DEPS, ToolFailed, ToolMissing
from contrail.tools.run import Completed, run

PID_FILE = Path("/var/run/docker.pid")


@dataclass(frozen=True)
class Image:
    id: str
    tags: tuple[str, ...]
    labels: Mapping[str, str]
    created: str
    size: int


def server_version() -> str:
    """The engine's version; ToolMissing when no daemon answers."""
    if not shutil.which("docker"):
        raise ToolMissing("the docker client is not installed", FIX_DEPS)
    done = run(["docker", "info", "--format", "{{.ServerVersion}}"], check=False)
    version = done.output.strip().splitlines()[-1] if done.output.strip() else ""
    if done.status != 0 or not version or "error" in version.lower():
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise ToolMissing(f"dockerd is not answering on {where}", FIX_DEPS)
    return version


def images(label: str) -> list[Image]:
    """Every local image carrying `label` (one `ls` and one `inspect`)."""
    ids = run(["docker", "image", "ls", "-q", "--no-trunc", "--filter", f"label={label}"]).output.split()
    return inspect_images(list(dict.fromkeys(ids)))


def inspect_images(refs: Sequence[str]) -> list[Image]:
    if not refs:
        return []
    raw = json.loads(run(["docker", "image", "inspect", *refs]).output)
    return [
        Image(
            id=item["Id"],
            tags=tuple(item.get("RepoTags") or ()),
            labels=(item.get("Config") or {}).get("Labels") or {},
            created=item.get("Created", ""),
            size=int(item.get("Size", 0)),
        )
        for item in raw
    ]


def tag(image: str, ref: str) -> None:
    run(["docker", "tag", image, ref])


def push(ref: str, log: Path, on_line: Callable[[str], None] | None = None) -> str:
    """Push `ref` to its registry; the manifest digest (sha256:…) the registry stored."""
    done = run(["docker", "push", ref], log=log, on_line=on_line)
    for line in reversed(done.output.splitlines()):
        if "digest: sha256:" in line:
            return line.split("digest: ", 1)[1].split()[0]
    raise ToolFailed(f"docker push {ref} printed no digest", f"see {log}")


def login(registry: str, user: str, password: str, log: Path) -> None:
    """`docker login` (credentials kept by Docker's own store, as for any registry)."""
    done = subprocess.run(
        ["docker", "login", registry, "--username", user, "--password-stdin"],
        input=password,
        capture_output=True,
        text=True,
        check=False,
    )
    with log.open("a") as out:
        out.write(f"$ docker login {registry} --username {user} --password-stdin\n{done.stdout}{done.stderr}")
    if done.returncode != 0:
        raise ToolFailed(f"docker login {registry} failed: {done.stderr.strip().splitlines()[-1:]}", f"see {log}")


def logout(registry: str) -> None:
    subprocess.run(["docker", "logout", registry], capture_output=True, check=False)


def remove_image(ref: str) -> None:
    run(["docker", "image", "rm", "--force", ref], check=False)


def import_tar(tar: IO[bytes], ref: str, changes: Sequence[str], log: Path) -> str:
    args = ["docker", "import"]
    for change in changes:
        args += ["--change", change]
    done = run([*args, "-", ref], stdin=tar, log=log)
    return done.output.strip().splitlines()[-1]


def run_container(image: str, name: str, args: Sequence[str] = ()) -> str:
    return run(["docker", "run", "--detach", "--name", name, *args, image]).output.strip()


def exec_in(container: str, command: str, *, log: Path | None = None) -> Completed:
    return run(["docker", "exec", container, "sh", "-c", command], check=False, log=log)


def remove_container(name: str) -> None:
    run(["docker", "rm", "--force", "--volumes", name], check=False)


def environment_networks(environment: str) -> list[str]:
    """Names of the networks labelled as an environment's (its Vagrantfile makes one)."""
    return _labelled("network", environment)


def environment_volumes(environment: str) -> list[str]:
    """Names of the volumes labelled as an environment's (its Vagrantfile makes the app servers' shared one)."""
    return _labelled("volume", environment)


def _labelled(kind: str, environment: str) -> list[str]:
    done = run(
        [
            "docker",
            kind,
            "ls",
            "--filter",
            f"label=org.contrail.environment={environment}",
            "--format",
            "{{.Name}}",
        ],
        check=False,
    )
    return done.output.split() if done.status == 0 else []


def remove_network(name: str) -> None:
    run(["docker", "network", "rm", name], check=False)


def remove_volume(name: str) -> None:
    run(["docker", "volume", "rm", name], check=False)


def environment_containers(environment: str) -> list[str]:
    """Names of the containers (running or not) labelled as an environment's or a team's."""
    done = run(
        ["docker", "ps", "-a", "--filter", f"label=org.contrail.environment={environment}", "--format", "{{.Names}}"],
        check=False,
    )
    return done.output.split() if done.status == 0 else []


def container_images(names: Sequence[str]) -> dict[str, str]:
    """Container name → the ID of the image it was created from (whatever that image's tags are now); the
    containers that do not exist are left out."""
    if not names:
        return {}
    done = run(["docker", "inspect", "--format", "{{.Name}} {{.Image}}", *names], check=False)
    pairs = (line.split() for line in done.output.splitlines() if len(line.split()) == 2)
    return {name.lstrip("/"): image for name, image in pairs}


def container_states(environment: str) -> dict[str, str]:
    """Container name → its state (running, paused, exited, …) for an environment's containers, in one call."""
    done = run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label=org.contrail.environment={environment}",
            "--format",
            "{{.Names}} {{.State}}",
        ],
        check=False,
    )
    pairs = (line.split() for line in done.output.splitlines() if len(line.split()) == 2) if done.status == 0 else ()
    return dict(pairs)


def published_ports(environment: str, port: str) -> dict[str, int]:
    """Container name → the loopback port its `port` (e.g. "22/tcp") is published on, for an environment's
    running containers, in one call."""
    label = f"label=org.contrail.environment={environment}"
    done = run(["docker", "ps", "--filter", label, "--format", "{{.Names}}\t{{.Ports}}"], check=False)
    return loopback_ports(done.output if done.status == 0 else "", port)


def loopback_ports(listing: str, port: str) -> dict[str, int]:
    """From `docker ps --format '{{.Names}}\t{{.Ports}}'` lines (ports as `127.0.0.1:22313->22/tcp, 80/tcp`):
    name → the port on 127.0.0.1 that `port` is published on."""
    published = {}
    for line in listing.splitlines():
        name, _, ports = line.partition("\t")
        for mapping in ports.split(", "):
            host, _, inside = mapping.partition("->")
            address, _, number = host.rpartition(":")
            if inside == port and address == "127.0.0.1" and number.isdigit():
                published[name] = int(number)
    return published


def container_state(name: str) -> str:
    """running, paused, exited, … or missing."""
    done = run(["docker", "inspect", "-f", "{{.State.Status}}", name], check=False)
    return done.output.strip() if done.status == 0 else "missing"


def kill(names: Sequence[str]) -> None:
    """Containers stopped at once (no graceful stop: they are being thrown away)."""
    if names:
        run(["docker", "kill", *names], check=False)


def change_state(action: str, name: str) -> None:
    """`docker stop|pause|unpause|start` of one container; ToolFailed with docker's own words if it fails."""
    args = {"stop": ["stop", "-t", "5"], "pause": ["pause"], "unpause": ["unpause"], "start": ["start"]}[action]
    done = run(["docker", *args, name], check=False)
    if done.status != 0:
        said = done.output.strip().splitlines()[-1] if done.output.strip() else f"status {done.status}"
        raise ToolFailed(f"docker {action} {name}: {said}")


def container_ip(name: str) -> str | None:
    done = run(
        ["docker", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name],
        check=False,
    )
    addresses = done.output.split() if done.status == 0 else []
    return addresses[0] if addresses else None


def bridge_ip_publishing(host_port: int) -> str | None:
    """The default-bridge address of the running container that publishes `host_port` on the host."""
    names = run(["docker", "ps", "--filter", f"publish={host_port}", "--format", "{{.Names}}"], check=False)
    for name in names.output.split():
        done = run(
            ["docker", "inspect", "--format", "{{with .NetworkSettings.Networks.bridge}}{{.IPAddress}}{{end}}", name],
            check=False,
        )
        if done.status == 0 and done.output.strip():
            return done.output.strip()
    return None


def start_daemon(log: Path, on_line: Callable[[str], None] = lambda _: None, wait: float = 60.0) -> str:
    """Start dockerd in the background (no init system here) and wait until it answers."""
    if not shutil.which("dockerd"):
        raise ToolMissing("dockerd is not installed", FIX_DEPS)
    if PID_FILE.exists() and not _alive(PID_FILE):
        PID_FILE.unlink()  # left by a daemon that was killed with its session
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    on_line(f"started dockerd (log: {log})")
    deadline = time.monotonic() + wait
    while True:
        try:
            return server_version()
        except ToolMissing:
            if time.monotonic() > deadline:
                raise ToolFailed(f"dockerd did not answer within {wait:.0f} s", f"see {log}") from None
            time.sleep(0.5)


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
