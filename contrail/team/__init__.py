"""The team's services as one Environment in `team/` (scm, CI, apt cache, staging databases and a staging
app topology): `contrail team init`, `team up`, `team wheels`, `team destroy`."""

from contrail.team.ci import CI_HOME, CI_WHEELHOUSE, add_wheels, gitolite_conf, sync_scm, wheelhouse_dir
from contrail.team.config import (
    DIRNAME,
    FILENAME,
    SCHEMA,
    SECRET_NAMES,
    TeamConfig,
    apt_cache_url,
    environment,
    find,
    load,
    remotes,
    staging_devconfig,
    workspace,
)
from contrail.team.lifecycle import destroy, remote, remove_disabled, up
from contrail.team.render import init

__all__ = [
    "CI_HOME",
    "CI_WHEELHOUSE",
    "DIRNAME",
    "FILENAME",
    "SCHEMA",
    "SECRET_NAMES",
    "TeamConfig",
    "add_wheels",
    "apt_cache_url",
    "destroy",
    "environment",
    "find",
    "gitolite_conf",
    "init",
    "load",
    "remote",
    "remotes",
    "remove_disabled",
    "staging_devconfig",
    "sync_scm",
    "up",
    "wheelhouse_dir",
    "workspace",
]
