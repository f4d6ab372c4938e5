"""The switches a push starts on its app servers once it holds the lock (rollout.Switches), run by a real
process through the `ssh` stand-in that runs the command here (the `local_remote` fixture): each
says what its server runs now and waits for its line; taken once; one that ended early is not used;
those never told end with the push."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from contrail.deploy import rollout
from contrail.deploy.rollout import PushFailed, Switches

WAITS_FOR_ITS_LINE = ["sh", "-c", 'echo release=r1; echo ready; read line && echo "told: $line"', "contrail-switch"]


class Held:
    """A push lock that is held."""

    def wait(self) -> None:
        pass


class NeverTaken:
    """A push lock that could not be taken (another push kept it)."""

    def wait(self) -> None:
        raise PushFailed("another push holds the lock")


def test_a_switch_started_ahead_is_told_its_line_once(local_remote, monkeypatch) -> None:
    monkeypatch.setattr(rollout, "SWITCH", WAITS_FOR_ITS_LINE)
    with ThreadPoolExecutor(1) as pool:
        switches = Switches([local_remote], Held(), pool)
        waiting = switches.take(local_remote)
        assert waiting is not None and waiting.process.poll() is None
        assert waiting.tell("r2 --page-wait 5").stdout == "told: r2 --page-wait 5\n"
        assert switches.take(local_remote) is None, "a switch is told once; the next one is a plain run"
        switches.close()


def test_one_that_ended_before_it_was_told_is_not_used(local_remote, monkeypatch) -> None:
    monkeypatch.setattr(rollout, "SWITCH", ["sh", "-c", "exit 2", "contrail-switch"])  # e.g. an older box
    with ThreadPoolExecutor(1) as pool:
        switches = Switches([local_remote], Held(), pool)
        assert switches.take(local_remote) is None  # (it is not asked whether it is still there: it says `ready`)
        switches.close()


def test_those_never_told_end_with_the_push_having_done_nothing(local_remote, monkeypatch, tmp_path) -> None:
    done = tmp_path / "switched"
    monkeypatch.setattr(rollout, "SWITCH", ["sh", "-c", f"echo ready; read line && touch {done}", "contrail-switch"])
    with ThreadPoolExecutor(1) as pool:
        switches = Switches([local_remote], Held(), pool)
        session = switches.starting.result()[local_remote.name]
        switches.close()
    assert session.process.returncode == 1 and not done.exists()  # (end of input: `read` fails)


def test_none_is_started_when_the_lock_is_never_held(local_remote, monkeypatch) -> None:
    monkeypatch.setattr(rollout, "SWITCH", WAITS_FOR_ITS_LINE)
    with ThreadPoolExecutor(1) as pool:
        switches = Switches([local_remote], NeverTaken(), pool)
        assert switches.take(local_remote) is None
        switches.close()
    assert not local_remote.log.exists()


@pytest.mark.parametrize(
    ("switch", "said", "ready"),
    [
        (WAITS_FOR_ITS_LINE, "release=r1", True),
        (["sh", "-c", "echo ready; read line", "contrail-switch"], "", True),  # a box's switch from before the answers
        (["sh", "-c", "echo release=r1; exit 2", "contrail-switch"], "", False),  # one that ended: not trusted
    ],
)
def test_what_a_switch_says_before_it_is_ready_is_the_uploads_answer(
    local_remote, monkeypatch, switch, said, ready
) -> None:
    monkeypatch.setattr(rollout, "SWITCH", switch)
    with ThreadPoolExecutor(1) as pool:
        switches = Switches([local_remote], Held(), pool)
        assert switches.live(local_remote) == said  # ("": the push asks the question's command instead)
        assert (switches.take(local_remote) is not None) == ready
        switches.close()
