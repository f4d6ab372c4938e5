"""Packer, run with -machine-readable and read line by line.

Why not packer-py: it runs Packer with Popen().communicate(), so nothing arrives until Packer exits;
per-role live progress needs the event stream as it happens. This module is the small wrapper instead:
a pure parser of Packer's `timestamp,target,type,data...` lines and two calls, build and validate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from contrail.errors import ConfigError, ToolFailed
from contrail.tools.run import run

_UNESCAPES = (("%!(PACKER_COMMA)", ","), ("\\n", "\n"), ("\\r", "\r"))
# How Packer prefixes a provisioner's own output: "    docker.box: …" or "==> docker.box: …".
_SCRIPT_OUTPUT = re.compile(r"^(==>| +)\s*[\w.-]+: ")
_ERROR_AT = re.compile(r"on (?P<file>\S+) line (?P<line>\d+)")


@dataclass(frozen=True)
class PackerEvent:
    timestamp: int
    target: str
    type: str
    data: tuple[str, ...]

    @property
    def text(self) -> str:
        return ",".join(self.data)


@dataclass(frozen=True)
class BuildResult:
    artifact_id: str | None
    errors: tuple[str, ...]
    last_step: str | None  # the provision script that ran last
    last_output: str | None  # the last line the build's scripts printed before Packer gave up


def parse_line(line: str) -> PackerEvent | None:
    """One machine-readable line → event; None for anything else (Packer prints a few plain lines)."""
    parts = line.rstrip("\r\n").split(",")
    if len(parts) < 3 or not parts[0].isdigit():
        return None
    data = tuple(_unescape(p) for p in parts[3:])
    return PackerEvent(int(parts[0]), parts[1], parts[2], data)


def _unescape(value: str) -> str:
    for escaped, plain in _UNESCAPES:
        value = value.replace(escaped, plain)
    return value


def summarize(events: Sequence[PackerEvent]) -> BuildResult:
    """The artifact id, the build's errors and the last provisioning step, from a build's events."""
    artifact = None
    errors: list[str] = []
    step = output = None
    for event in events:
        if event.type == "artifact" and event.data[1:2] == ("id",):
            artifact = event.data[2]
        elif event.type == "error" and event.target:
            errors.append(event.text.strip())
        elif event.type == "ui" and event.data[0] == "say":
            match = re.search(r"Provisioning with shell script: (\S+)", event.data[1])
            step = Path(match.group(1)).name if match else step
        elif event.type == "ui" and not errors and _SCRIPT_OUTPUT.match(event.data[1]):
            output = _SCRIPT_OUTPUT.sub("", event.data[1]).strip() or output
    return BuildResult(artifact, tuple(errors), step, output)


def human_line(event: PackerEvent) -> str | None:
    """What Packer would have shown a person for this event (ui say/message/error lines)."""
    if event.type == "ui" and len(event.data) >= 2:
        return event.data[1].rstrip()
    return None


def var_args(var_files: Sequence[Path], variables: Mapping[str, str]) -> list[str]:
    args = [f"-var-file={f}" for f in var_files]
    args += [f"-var={k}={v}" for k, v in variables.items()]
    return args


def build(
    template: Path,
    var_files: Sequence[Path],
    variables: Mapping[str, str],
    *,
    only: str,
    log: Path,
    on_event: Callable[[PackerEvent], None],
    cache_dir: Path | None = None,
) -> BuildResult:
    """`packer build` of the template's source `only` (TYPE.NAME); Packer's cache (the qemu source's
    locks and ports) in `cache_dir` rather than the working directory."""
    events: list[PackerEvent] = []

    def collect(line: str) -> None:
        event = parse_line(line)
        if event:
            events.append(event)
            on_event(event)

    args = ["packer", "build", "-machine-readable", f"-only={only}", *var_args(var_files, variables), str(template)]
    env = {"PACKER_CACHE_DIR": str(cache_dir)} if cache_dir else None
    completed = run(args, log=log, on_line=collect, check=False, capture=False, env=env)
    result = summarize(events)
    if completed.status != 0 and not result.errors:
        raise ToolFailed(f"packer build exited with status {completed.status}", f"full output in {log}")
    return result


def validate(template: Path, var_files: Sequence[Path], variables: Mapping[str, str]) -> None:
    """Packer's own validation; an HCL error becomes ConfigError('file:line: message')."""
    args = ["packer", "validate", "-machine-readable", *var_args(var_files, variables), str(template)]
    completed = run(args, check=False)
    if completed.status == 0:
        return
    events = [e for e in map(parse_line, completed.output.splitlines()) if e]
    raise ConfigError(validation_message(events) or completed.output.strip().splitlines()[-1])


def validation_message(events: Sequence[PackerEvent]) -> str | None:
    """Packer reports HCL errors as 'Error: <summary>\\n\\n  on FILE line N:' — make that 'FILE:N: summary'."""
    for event in events:
        if event.type != "ui" or event.data[0] != "error":
            continue
        text = event.data[1]
        where = _ERROR_AT.search(text)
        summary = next((ln for ln in text.splitlines() if ln.startswith("Error: ")), text.splitlines()[0])
        summary = summary.removeprefix("Error: ").strip()
        detail = _detail(text)
        message = f"{summary}: {detail}" if detail else summary
        if where:
            return f"{where['file']}:{where['line']}: {message}"
        return message
    return None


def _detail(text: str) -> str:
    """The explanatory sentence Packer prints after the source excerpt, if any."""
    lines = [ln.strip() for ln in text.splitlines()]
    for index, line in enumerate(lines):
        if _ERROR_AT.search(line):
            rest = [ln for ln in lines[index + 1 :] if ln and not re.match(r"^\d+:", ln)]
            return " ".join(rest)
    return ""
