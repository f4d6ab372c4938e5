import os
import subprocess
from pathlib import Path

import pytest

from contrail.errors import ContrailError, ToolFailed
from contrail.tools import docker, ssh
from contrail.tools.ssh import Output, last_line


def test_a_python_failure_is_reported_with_its_file_and_line():
    stdout = """*** Error compiling './visits/views.py'...
  File "./visits/views.py", line 19
    def broken(:
               ^
SyntaxError: invalid syntax
"""
    assert last_line(Output(False, stdout, "")) == "visits/views.py:19: SyntaxError: invalid syntax"


def test_a_traceback_names_the_innermost_frame():
    stderr = """Traceback (most recent call last):
  File "<string>", line 5, in <module>
  File "/srv/app/releases/r1/visits/views.py", line 18, in <module>
NameError: name 'undefined_name' is not defined
"""
    assert last_line(Output(False, "", stderr)) == (
        "/srv/app/releases/r1/visits/views.py:18: NameError: name 'undefined_name' is not defined"
    )


def test_plain_shell_errors_are_the_last_line():
    assert last_line(Output(False, "", "rsync: connection refused\n")) == "rsync: connection refused"
    assert last_line(Output(False, "", "")) == "(no output)"


def test_control_sockets_live_in_a_private_directory_made_by_this_user(tmp_path, monkeypatch):
    monkeypatch.setattr(ssh.tempfile, "gettempdir", lambda: str(tmp_path))
    made = ssh.control_dir("shop")
    assert made == tmp_path / f"contrail-{os.getuid()}" / "ssh-shop"
    assert made.stat().st_mode & 0o777 == 0o700 and made.parent.stat().st_mode & 0o777 == 0o700
    assert ssh.control_dir("shop") == made  # its own directory is used again
    made.chmod(0o755)  # as if made by someone else for others to enter
    with pytest.raises(ContrailError, match=r"ssh-shop is not a private directory of this user .* mode 755"):
        ssh.control_dir("shop")
    made.rmdir()
    made.symlink_to(tmp_path)  # a symlink planted at the predictable path
    with pytest.raises(ContrailError, match="is not a private directory"):
        ssh.control_dir("shop")


VAGRANT_SSH_CONFIG = """\
Host app1
  HostName 127.0.0.1
  User vagrant
  Port 22313
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /p/.contrail/ssh/id_ed25519
  IdentityFile /usr/share/rubygems-integration/all/gems/vagrant-2.3.4/keys/vagrant
  IdentitiesOnly yes
  LogLevel FATAL

Host web1
  HostName 127.0.0.1
  User vagrant
  Port 22293
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /p/.contrail/ssh/id_ed25519
  IdentityFile /usr/share/rubygems-integration/all/gems/vagrant-2.3.4/keys/vagrant
  IdentitiesOnly yes
  LogLevel FATAL
"""  # `vagrant ssh-config app1 web1` of a docker environment, verbatim (Vagrant 2.3.4)


def test_the_config_made_from_published_ports_is_the_one_vagrant_writes():
    keys = [
        Path("/p/.contrail/ssh/id_ed25519"),
        Path("/usr/share/rubygems-integration/all/gems/vagrant-2.3.4/keys/vagrant"),
    ]
    assert ssh.vagrant_config({"app1": 22313, "web1": 22293}, keys) == VAGRANT_SSH_CONFIG


def test_ssh_ports_are_read_from_dockers_listing_on_loopback_only():
    listing = (
        "env-proxy\t127.0.0.1:22282->22/tcp, 127.0.0.1:18080->80/tcp, 127.0.0.1:18081->8404/tcp\n"
        "env-app1\t8000/tcp, 127.0.0.1:22313->22/tcp\n"
        "env-web1\t0.0.0.0:2222->22/tcp, 80/tcp\n"  # (not on loopback: not Contrail's)
        "env-db\t5432/tcp\n"
        "env-odd\t127.0.0.1:22->2222/tcp\n"
    )
    assert docker.loopback_ports(listing, "22/tcp") == {"env-proxy": 22282, "env-app1": 22313}
    assert docker.loopback_ports("", "22/tcp") == {}


def test_feed_hands_every_chunk_on_in_order_and_logs_no_data(local_remote, tmp_path):
    out = tmp_path / "out"
    chunks = [f"row-{i}-value\n".encode() * 1000 for i in range(50)]
    assert local_remote.feed(f"cat > {out}", iter(chunks)) == (0, "")
    assert out.read_bytes() == b"".join(chunks)
    assert "-value" not in local_remote.log.read_text() and "data not logged" in local_remote.log.read_text()


def test_a_command_that_fails_early_stops_the_feeding_and_its_error_comes_back(local_remote):
    made = []

    def chunks():
        for i in range(10_000):
            made.append(i)
            yield b"x" * 65536

    status, errors = local_remote.feed("head -c 10 > /dev/null; echo 'ERROR: bad row' >&2; exit 3", chunks())
    assert (status, errors) == (3, "ERROR: bad row\n")
    assert len(made) < 10_000  # stopped once the command was gone


def test_a_failure_making_the_chunks_kills_the_command_and_is_raised(local_remote, tmp_path):
    def chunks():
        yield b"first\n"
        raise ValueError("masking failed")

    with pytest.raises(ValueError, match="masking failed"):
        local_remote.feed(f"cat > {tmp_path / 'out'}; sleep 30", chunks())


def test_transfer_reads_output_of_any_size_through_a_file(local_remote):
    status, out, errors = local_remote.transfer("head -c 3000000 /dev/zero; echo done >&2", b"")
    assert (status, len(out), errors) == (0, 3_000_000, "done\n")


def test_a_held_command_told_its_last_line_ends_and_its_output_is_checked_and_logged(local_remote):
    session = local_remote.hold('read line; echo "switching to $line"')
    assert session.tell("r2 --page-wait 5").stdout == "switching to r2 --page-wait 5\n"
    assert "(told: r2 --page-wait 5)\nswitching to r2 --page-wait 5\n" in local_remote.log.read_text()
    failing = local_remote.hold('read line; echo "no release $line" >&2; exit 1')
    with pytest.raises(ToolFailed, match=r"^node: contrail-switch failed: no release r9 — log: "):
        failing.tell("r9", what="contrail-switch")


def test_a_held_command_that_ended_before_it_was_told_says_so(local_remote):
    session = local_remote.hold("exit 2")
    session.process.wait()
    with pytest.raises(ToolFailed, match=r"^node: `exit 2` failed: \(no output\)"):
        session.tell("r2")  # (its input is gone: the end it had is what is reported)


def test_waiting_for_an_exit_reaps_the_process_or_says_it_still_runs():
    ending = subprocess.Popen(["sh", "-c", "sleep 0.05; exit 3"], text=True)
    ssh.wait_exit(ending, timeout=10)
    assert ending.returncode == 3
    ssh.wait_exit(ending, timeout=10)  # (reaped already: nothing to wait for)
    running = subprocess.Popen(["sleep", "10"], text=True)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            ssh.wait_exit(running, timeout=0.05)
        assert running.poll() is None
    finally:
        running.kill()
        running.wait()
