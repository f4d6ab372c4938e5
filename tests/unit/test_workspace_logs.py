"""Logs are private: what tools print can name hosts and, for a failed database step, what the server said."""

from contrail.workspace import Workspace


def test_logs_are_readable_by_their_owner_alone(tmp_path):
    state = tmp_path / ".contrail"
    (state / "logs").mkdir(parents=True, mode=0o755)  # left by an older Contrail
    log = Workspace(tmp_path, state).new_log("staging-refresh-postgresql")
    assert (state / "logs").stat().st_mode & 0o777 == 0o700
    assert log.exists() and log.stat().st_mode & 0o777 == 0o600


def test_commands_started_in_the_same_second_get_their_own_logs(tmp_path):
    workspace = Workspace(tmp_path, tmp_path / ".contrail")
    logs = [workspace.new_log("push") for _ in range(3)]
    assert len(set(logs)) == 3
    assert all(log.stat().st_mode & 0o777 == 0o600 for log in logs)
