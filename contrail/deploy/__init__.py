"""Putting the app's code live on every app server: push (rolling or all at once), rollback, migrate, the
push's state, new app servers caught up (`rollout`); releases, wheels, a Django project's adapted settings
and the app's last error alongside. (The fabfile's front end is `contrail.cli.fabtasks`.)"""

from contrail.deploy.rollout import (
    APP,
    APP_LOG,
    Project,
    PushFailed,
    PushReport,
    PushState,
    catch_up,
    connect,
    forget_migrations,
    migrate,
    parallel,
    push,
    push_state,
    rollback,
)

__all__ = [
    "APP",
    "APP_LOG",
    "Project",
    "PushFailed",
    "PushReport",
    "PushState",
    "catch_up",
    "connect",
    "forget_migrations",
    "migrate",
    "parallel",
    "push",
    "push_state",
    "rollback",
]
