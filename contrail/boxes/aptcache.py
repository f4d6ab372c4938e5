"""The individual apt cache: the apt-cache box run on the host, published on 127.0.0.1:3142.

Builds reach it differently from the host: build containers cannot see the host's loopback, so a
loopback URL that points at Contrail's own cache container is translated to that container's
address on Docker's bridge for them.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from contrail.boxes.images import BoxStore
from contrail.errors import ContrailError, ToolFailed
from contrail.tools import docker

CONTAINER = "contrail-apt-cache"
VOLUME = "contrail-apt-cache"
PORT = 3142
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class AptProxy:
    """One cache, as the host reaches it and as build containers reach it."""

    host_url: str
    build_url: str


def up(store: BoxStore, port: int = PORT, wait: float = 30.0) -> str:
    box = store.current("apt-cache")
    if box is None:
        raise ContrailError("no apt-cache box is built", "run `contrail build-boxes apt-cache`")
    url = f"http://127.0.0.1:{port}"
    if docker.container_ip(CONTAINER) and answers(url):
        return url
    docker.remove_container(CONTAINER)
    docker.run_container(
        box.ref,
        CONTAINER,
        [
            "--publish",
            f"127.0.0.1:{port}:{PORT}",
            "--volume",
            f"{VOLUME}:/var/cache/apt-cacher-ng",
            "--restart",
            "unless-stopped",
        ],
    )
    deadline = time.monotonic() + wait
    while not answers(url):
        if time.monotonic() > deadline:
            raise ToolFailed(f"apt-cacher-ng did not answer on {url} within {wait:.0f} s", f"docker logs {CONTAINER}")
        time.sleep(0.3)
    return url


def down() -> None:
    docker.remove_container(CONTAINER)


def answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/acng-report.html", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def resolve(url: str) -> AptProxy:
    """Check the cache answers and work out how build containers reach it."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ContrailError(f"apt cache URL {url!r} is not http://HOST:PORT", "e.g. --apt-cache http://127.0.0.1:3142")
    if not answers(url):
        raise ContrailError(f"no apt-cacher-ng answers at {url}", "start one with `contrail apt-cache up`")
    if parts.hostname not in LOOPBACK:
        return AptProxy(url, url)
    # The container that publishes this loopback port (Contrail's own cache, or a team's apt-cache
    # machine): containers reach it at its address on Docker's default bridge.
    address = docker.bridge_ip_publishing(parts.port or 80)
    if address is None:
        raise ContrailError(
            f"{url} is on the host's loopback, which build containers cannot reach",
            "use Contrail's own cache (`contrail apt-cache up`), the team's, or an address containers can reach",
        )
    return AptProxy(url, f"http://{address}:{PORT}")
