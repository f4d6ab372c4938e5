"""Logs are private: what tools print can name hosts and, for a failed database step, what the server said."""

from contrail.workspace import Workspace


def test_logs_are_readable_by_their_owner_alone(tmp_path):
    state = tmp_path / ".contrail"
    (state / "logs").mkdir(parents=True, mode=0o755)  # left by an older Contrail
    log = Workspace(tmp_path, state).new_log("staging-refresh-postgresql")
    assert (state / "logs").stat().st_mode & 0o777 == 0o700
    assert log.exists() and log.stat().st_mode & 0o777 == 0o600
