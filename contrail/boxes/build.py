"""The box factory: the base image, then one Packer build per stale role, smoke-checked, then tagged.

A role is rebuilt only when its input hash (inputs.py) has no image yet; when an older image with the
same inputs is still on disk it is made current again instead of rebuilt. A build's image is tagged
only after Packer succeeded and the role's smoke check passed in a container of it, so a failed build
never moves a tag.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from contrail.boxes import inputs
from contrail.boxes.base import BASE_ROLE, load_spec
from contrail.boxes.builders import Store, builder
from contrail.boxes.images import Box, box_labels, utc_now
from contrail.boxes.roles import Role, load_catalog
from contrail.errors import BuildFailed, CannotBuildHere, ConfigError, ContrailError, ToolFailed
from contrail.tools import packer, vagrant
from contrail.tools.run import run
from contrail.workspace import Workspace

SMOKE_TIMEOUT = 90.0


class Progress(Protocol):
    """Where a build reports what each box is doing (the CLI's progress screen)."""

    def start(self, name: str, text: str) -> None: ...

    def status(self, name: str, text: str) -> None: ...

    def tool_line(self, name: str, text: str) -> None: ...

    def finish(self, name: str, ok: bool, text: str) -> None: ...


@dataclass(frozen=True)
class BuildOptions:
    roles: tuple[str, ...] = ()
    jobs: int = 1
    force: bool = False
    namespace: str = "contrail"
    provider: str = "docker"
    apt_proxy: str | None = None  # as build containers reach it
    host_apt_proxy: str | None = None  # as the host (debootstrap) reaches it
    dry_run: bool = False
    smoke_timeout: float = SMOKE_TIMEOUT


@dataclass(frozen=True)
class Planned:
    role: Role
    input_hash: str
    action: str  # "keep" (current box has these inputs), "reuse" (an older image has them), "build"
    reason: str
    box: Box | None


@dataclass(frozen=True)
class Outcome:
    role: str
    action: str
    box: Box | None
    seconds: float
    error: ContrailError | None = None  # why a box could not be built here


def build_boxes(ws: Workspace, options: BuildOptions, ui: Progress) -> list[Outcome]:
    """Bring every selected role's box up to date; BuildFailed names the roles that failed."""
    if options.jobs < 1:
        raise ConfigError(f"-j/--jobs must be at least 1 (got {options.jobs})")
    roles = load_catalog(ws).select(options.roles)
    spec = load_spec(ws.base_spec)
    boxes_for = builder(options.provider)
    boxes_for.require()
    pubkey = vagrant.insecure_public_key()
    store = boxes_for.store(options.namespace)
    base_hash = boxes_for.base_hash(ws, spec, pubkey)
    if options.dry_run:
        base = store.with_hash(BASE_ROLE, base_hash)
        base_id = base.image_id if base else ""
        return [_dry(p) for p in plan(ws, store, roles, base_id, pubkey, options.force, boxes_for.packaging)]

    started = time.monotonic()
    if store.with_hash(BASE_ROLE, base_hash) is None:
        ui.start(BASE_ROLE, "debootstrap")
    base, built = boxes_for.ensure_base(
        ws, store, spec, pubkey, options.host_apt_proxy, lambda line: _tool(ui, BASE_ROLE, line)
    )
    if built:
        ui.finish(BASE_ROLE, True, f"built {base.version} ({_short(base)})")
    outcomes = [Outcome(BASE_ROLE, "build" if built else "keep", base, time.monotonic() - started)]

    planned = plan(ws, store, roles, base.image_id, pubkey, options.force, boxes_for.packaging)
    stale = [p for p in planned if p.action != "keep"]
    outcomes += [Outcome(p.role.name, "keep", p.box, 0.0) for p in planned if p.action == "keep"]
    with ThreadPoolExecutor(max_workers=options.jobs) as pool:
        results = list(pool.map(lambda p: _attempt(ws, store, p, base, pubkey, options, ui), stale))
    outcomes += results
    failed = [o for o in results if o.action in ("failed", "unbuildable")]
    if failed and all(o.action == "unbuildable" for o in failed):
        first = failed[0].error
        assert first is not None
        raise CannotBuildHere(first.message, first.hint)
    if failed:
        raise BuildFailed(
            f"{len(failed)} of {len(stale)} box builds failed: {', '.join(o.role for o in failed)}",
            "the messages above name each failing step and its log; the previous boxes are still tagged",
        )
    return outcomes


def plan(
    ws: Workspace,
    store: Store,
    roles: Sequence[Role],
    base_id: str,
    pubkey: str,
    force: bool,
    packaging: bytes,
) -> list[Planned]:
    result = []
    for role in roles:
        digest = inputs.role_hash(ws.template, role.var_file, role.scripts, ws.shared_files, base_id, pubkey, packaging)
        current, cached = store.current(role.name), store.with_hash(role.name, digest)
        if force:
            result.append(Planned(role, digest, "build", "forced", current))
        elif current and current.input_hash == digest:
            result.append(Planned(role, digest, "keep", "unchanged", current))
        elif cached:
            result.append(Planned(role, digest, "reuse", f"inputs match {cached.version}", cached))
        else:
            result.append(Planned(role, digest, "build", "changed" if current else "new", current))
    return result


def _dry(p: Planned) -> Outcome:
    return Outcome(p.role.name, f"{p.action} ({p.reason})", p.box, 0.0)


def _attempt(
    ws: Workspace, store: Store, p: Planned, base: Box, pubkey: str, options: BuildOptions, ui: Progress
) -> Outcome:
    started = time.monotonic()
    name = p.role.name
    ui.start(name, f"{p.reason}: {'reusing' if p.action == 'reuse' else 'building'}")
    try:
        if p.action == "reuse" and p.box:
            box = store.promote(p.box.image_id)
        else:
            box = build_role(ws, store, p, base, pubkey, options, ui)
    except CannotBuildHere as err:
        ui.finish(name, False, str(err))
        return Outcome(name, "unbuildable", None, time.monotonic() - started, err)
    except BuildFailed as err:
        ui.finish(name, False, str(err))
        return Outcome(name, "failed", None, time.monotonic() - started)
    ui.finish(name, True, f"{'reused' if p.action == 'reuse' else 'built'} {box.version} ({_short(box)})")
    return Outcome(name, p.action, box, time.monotonic() - started)


def build_role(
    ws: Workspace, store: Store, p: Planned, base: Box, pubkey: str, options: BuildOptions, ui: Progress
) -> Box:
    role = p.role
    boxes_for = builder(options.provider)
    log = ws.new_log(f"build-{role.name}")
    labels = box_labels(store.namespace, role.name, store.next_version(role.name), p.input_hash, utc_now())
    wheel_dir = Path(tempfile.mkdtemp(prefix=f"contrail-wheels-{role.name}-"))
    workdir = boxes_for.workdir(store, role.name)
    variables = {
        **boxes_for.variables(base, workdir),
        "scripts_dir": str(ws.scripts_dir),
        "wheel_dir": str(wheel_dir),
        "labels": "{" + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in labels.items()) + "}",
        "apt_proxy": boxes_for.build_proxy(options.apt_proxy),
        "vagrant_pubkey": pubkey,
    }

    def on_event(event: packer.PackerEvent) -> None:
        text = packer.human_line(event)
        if text:
            ui.tool_line(role.name, text)
            if event.data[0] == "say":
                ui.status(role.name, text.removeprefix(f"==> {boxes_for.packer_source}: "))

    try:
        if role.wheels:
            ui.status(role.name, f"downloading {', '.join(role.wheels)} on the host")
            download_wheels(role.wheels, wheel_dir, log)
        result = packer.build(
            ws.template,
            [role.var_file],
            variables,
            only=boxes_for.packer_source,
            log=log,
            on_event=on_event,
            cache_dir=ws.state / "packer_cache",
        )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(wheel_dir, ignore_errors=True)
    if result.errors or not result.artifact_id:
        shutil.rmtree(workdir, ignore_errors=True)
        where = f"provision script {result.last_step}" if result.last_step else "packer build"
        first = result.errors[0].splitlines()[0] if result.errors else "no image was produced"
        if "exit status: 69." in first and result.last_output:  # EX_UNAVAILABLE: the script says "not here"
            raise CannotBuildHere(f"{role.name} cannot be built here: {result.last_output}", f"log: {log}")
        said = f" — it printed: {result.last_output}" if result.last_output else ""
        raise BuildFailed(f"{where} failed: {first}{said}", f"log: {log}")
    artifact = boxes_for.artifact(result.artifact_id, workdir, labels)
    ui.status(role.name, "smoke check")
    try:
        boxes_for.smoke(artifact, role.name, role.smoke, log, options.smoke_timeout)
        artifact = boxes_for.finish(artifact)
    except BaseException:
        boxes_for.discard(artifact)
        raise
    return store.promote(artifact)


def download_wheels(specs: tuple[str, ...], target: Path, log: Path) -> None:
    """Wheels only (no source builds), without dependencies: the role's scripts install them with the
    Debian packages that provide the rest."""
    try:
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                str(target),
                *specs,
            ],
            log=log,
        )
    except ToolFailed as err:
        raise BuildFailed(f"could not download {', '.join(specs)} on the host: {err.message}", f"log: {log}") from None


def _short(box: Box) -> str:
    """A box's id as people read it: a docker image's first 12 hex digits, a VM box's directory."""
    return box.image_id[7:19] if box.image_id.startswith("sha256:") else box.image_id


def _tool(ui: Progress, name: str, line: str) -> None:
    ui.tool_line(name, line)
    ui.status(name, line)
