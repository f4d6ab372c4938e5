"""What differs between the providers a box is built for: which source of the Packer template builds it,
what the build needs running, how a built box is smoke-checked before it is tagged, and how a build that
failed its check is discarded. The rest of a build (inputs and their hash, role scripts, progress, logs,
the tag only after success) is the same for every provider (build.py).

The docker builder is the first; a libvirt builder is one more class here and one more source block in
boxes/box.pkr.hcl, built from the same role scripts.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Protocol

from contrail.errors import BuildFailed, ConfigError
from contrail.tools import docker

# Every box runs sshd under supervisor; the role's own check comes after this one.
COMMON_SMOKE = "nc -z 127.0.0.1 22"


class Builder(Protocol):
    provider: str  # Vagrant's name for the provider the boxes are for
    packer_source: str  # the template's source block (`packer build -only`)

    def require(self) -> None:
        """What builds need is running (ToolMissing with the fix otherwise)."""
        ...

    def smoke(self, artifact: str, name: str, check: str, log: Path, timeout: float) -> None:
        """Start the built box as Vagrant would and wait until `check` passes in it; BuildFailed after
        `timeout` seconds, with the check's last output."""
        ...

    def discard(self, artifact: str) -> None:
        """A built box that will not be tagged, removed."""
        ...


class DockerBuilder:
    provider = "docker"
    packer_source = "docker.box"

    def require(self) -> None:
        docker.server_version()

    def smoke(self, artifact: str, name: str, check: str, log: Path, timeout: float) -> None:
        container = f"contrail-smoke-{name}-{uuid.uuid4().hex[:8]}"
        docker.run_container(artifact, container)  # its own command, as Vagrant runs it: supervisor
        try:
            deadline = time.monotonic() + timeout
            while True:
                done = docker.exec_in(container, f"{COMMON_SMOKE} && ( {check} )", log=log)
                if done.status == 0:
                    return
                if time.monotonic() > deadline:
                    last = done.output.strip().splitlines()[-1:] or ["(no output)"]
                    raise BuildFailed(
                        f"smoke check `{check}` still failing after {timeout:.0f} s: {last[0]}", f"log: {log}"
                    )
                time.sleep(0.5)
        finally:
            docker.remove_container(container)

    def discard(self, artifact: str) -> None:
        docker.remove_image(artifact)


BUILDERS: dict[str, Builder] = {"docker": DockerBuilder()}


def builder(provider: str) -> Builder:
    if provider not in BUILDERS:
        raise ConfigError(
            f"boxes for provider {provider!r} cannot be built yet", f"use --provider {' or '.join(BUILDERS)}"
        )
    return BUILDERS[provider]
