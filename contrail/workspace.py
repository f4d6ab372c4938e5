"""Where things are: Contrail's role data (boxes/, provision_scripts/) and the state directory.

The state directory `.contrail/` lives in the directory a command runs from; logs of every external
tool go to `.contrail/logs/<stage>-<timestamp>.log`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from contrail.errors import ContrailError

TEMPLATE = Path("boxes/box.pkr.hcl")
CLONE = Path(__file__).resolve().parent.parent  # the clone this package runs from
COOKIECUTTERS = CLONE / "cookiecutters"
STATE = ".contrail"  # the state directory's name, in the directory a command runs from


def state_dir(directory: Path) -> Path:
    """The state directory of an environment, a team or a build run from `directory`."""
    return directory / STATE


@dataclass(frozen=True)
class Workspace:
    root: Path
    state: Path

    @property
    def template(self) -> Path:
        return self.root / TEMPLATE

    @property
    def roles_dir(self) -> Path:
        return self.root / "boxes" / "roles"

    @property
    def scripts_dir(self) -> Path:
        return self.root / "provision_scripts"

    @property
    def shared_files(self) -> Path:
        """Uploaded into every box at /tmp/contrail-files before its scripts run."""
        return self.scripts_dir / "contrail-files"

    @property
    def base_spec(self) -> Path:
        return self.root / "boxes" / "base.toml"

    def new_log(self, stage: str) -> Path:
        """A new log file, readable by its owner alone (0600 in a 0700 directory): tools' output can hold
        host names, paths and, for a failed database step, what the server said."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        logs = self.state / "logs"
        logs.mkdir(mode=0o700, parents=True, exist_ok=True)
        logs.chmod(0o700)
        log, count = logs / f"{stage}-{stamp}.log", 1
        while True:
            try:  # exclusively: two commands started in the same second each get their own log
                os.close(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                count += 1
                log = logs / f"{stage}-{stamp}-{count}.log"
                continue
            log.chmod(0o600)  # whatever the umask
            return log


def data_dir() -> Path:
    """Where Contrail keeps what outlives a project on this machine (the libvirt provider's boxes, the
    acceleration probe): CONTRAIL_DATA_DIR, else $XDG_DATA_HOME/contrail (~/.local/share/contrail)."""
    explicit = os.environ.get("CONTRAIL_DATA_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "contrail"


def find_root() -> Path:
    """CONTRAIL_ROOT, else the clone this package runs from."""
    explicit = os.environ.get("CONTRAIL_ROOT")
    candidates = [Path(explicit)] if explicit else [CLONE]
    for candidate in candidates:
        if (candidate / TEMPLATE).is_file():
            return candidate.resolve()
    raise ContrailError(
        f"no role data found ({TEMPLATE} missing under {candidates[0]})",
        "run Contrail from its clone, or set CONTRAIL_ROOT to a directory holding boxes/ and provision_scripts/",
    )


def workspace(state: Path | None = None) -> Workspace:
    return Workspace(find_root(), (state or state_dir(Path.cwd())).resolve())
