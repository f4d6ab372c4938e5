"""What the push, `rollback` and `status` read from the servers' answers, with answers recorded from the
real boxes: the upload's question run as `vagrant` in the app box (a fresh one, and one after two pushes),
the rollback's `Releases.QUESTION` likewise, and `contrail-upstream list` on a web node."""

from __future__ import annotations

import datetime

import pytest

from contrail.deploy import rollout
from contrail.deploy.rollout import PushFailed, Releases, Upload, out_of_rotation, rollback_target

FRESH = "release=placeholder\nvenv=/srv/app/venv\ncode=\nmigrated=\ncomplete=\n"
PUSHED = (
    "release=20261129-101730-654321\nvenv=/srv/app/venvs/k1\ncode=c-20261129-101730-654321\nmigrated=m1\n"
    "complete=/srv/app/venvs/k0/.complete /srv/app/venvs/k1/.complete\n"
)


def test_the_first_push_to_a_fresh_server_installs_and_restarts() -> None:
    assert Upload.read(FRESH, "/srv/app/venvs/k1") == Upload(
        installed=True, new_venv=True, live_code="", live_release="placeholder", migrated=""
    )


def test_a_push_with_the_same_requirements_reuses_the_venv_and_takes_a_hup() -> None:
    assert Upload.read(PUSHED, "/srv/app/venvs/k1") == Upload(
        installed=False,
        new_venv=False,
        live_code="c-20261129-101730-654321",
        live_release="20261129-101730-654321",
        migrated="m1",
    )


def test_new_requirements_whose_venv_a_killed_push_left_incomplete_are_installed_again() -> None:
    upload = Upload.read(PUSHED, "/srv/app/venvs/k2")
    assert upload.installed and upload.new_venv


def test_a_server_that_answers_nothing_is_treated_as_new() -> None:
    """(an answer lost to a dropped connection: reinstalling is slow, never wrong)"""
    assert Upload.read("", "/srv/app/venvs/k1") == Upload(True, True, "", "", "")


def test_a_venv_is_complete_only_by_its_own_marker() -> None:
    assert Upload.read(PUSHED, "/srv/app/venvs/k0").installed is False
    assert Upload.read(PUSHED, "/srv/app/venvs/k").installed, "(not a prefix of another's)"
    assert rollout.MIGRATED in Upload.QUESTION


def test_a_release_whose_id_sorts_before_the_live_one_must_take_another() -> None:
    """(a push that waited for the lock took its id before the one holding it went live)"""
    pushed, fresh = Upload.read(PUSHED, "/srv/app/venvs/k1"), Upload.read(FRESH, "/srv/app/venvs/k1")
    assert rollout._live_after([fresh, pushed], "20261129-101730-000001") == "20261129-101730-654321"
    assert rollout._live_after([pushed], "20261129-101730-654321") == "20261129-101730-654321"
    assert rollout._live_after([fresh, pushed], "20261129-101731-000000") == ""
    assert rollout._live_after([fresh], "20261129-101731-000000") == "", "the placeholder is no release"


OLD, LIVE = "20261129-101500-123456", "20261129-101730-654321"
LEFT = "20261129-101600-000001"  # uploaded by a push that was killed before its switch
RELEASES = (  # Releases.QUESTION's answer after two pushes, the second with other requirements, and a killed one
    f"releases/{LIVE}\n/srv/app/releases/{OLD}/ served /srv/app/venvs/k0\n"
    f"/srv/app/releases/{LEFT}/ - /srv/app/venvs/k0\n/srv/app/releases/{LIVE}/ served /srv/app/venvs/k1\n"
)


def held(answer: str = RELEASES) -> Releases:
    return Releases.read(answer)


def test_rollback_goes_to_the_newest_release_before_the_live_one_that_went_live() -> None:
    assert held() == Releases(
        LIVE, {OLD: "/srv/app/venvs/k0", LEFT: "/srv/app/venvs/k0", LIVE: "/srv/app/venvs/k1"}, frozenset({OLD, LIVE})
    )
    assert rollback_target({"app1": held(), "app2": held()}) == OLD


def test_on_boxes_that_mark_no_release_every_release_counts() -> None:
    unmarked = held(RELEASES.replace(" served ", " - "))
    assert not unmarked.served
    assert rollback_target({"app1": unmarked}) == LEFT


def test_rollback_after_a_rollback_goes_further_back_never_forward() -> None:
    answer = (
        f"releases/{OLD}\n/srv/app/releases/20261129-094000-000001/ served /srv/app/venvs/k0\n"
        f"/srv/app/releases/{OLD}/ served /srv/app/venvs/k0\n/srv/app/releases/{LIVE}/ served /srv/app/venvs/k1\n"
    )
    assert rollback_target({"app1": held(answer)}) == "20261129-094000-000001"


def test_a_tomcat_release_has_no_venv() -> None:
    tomcat = held(f"releases/{LIVE}\n/srv/app/releases/{OLD}/ served \n/srv/app/releases/{LIVE}/ served \n")
    assert tomcat.venvs == {OLD: "", LIVE: ""}
    assert rollback_target({"app1": tomcat}) == OLD


def test_rollback_goes_by_the_release_most_servers_serve() -> None:
    """(a server left on another release by a failure flagged in `contrail status` goes back with the others)"""
    behind = held(RELEASES.replace(f"releases/{LIVE}\n", f"releases/{OLD}\n", 1))
    assert rollback_target({"app1": held(), "app2": behind, "app3": held()}) == OLD


def test_rollback_is_refused_before_anything_moves_when_a_server_lacks_the_release() -> None:
    recreated = held(f"releases/{LIVE}\n/srv/app/releases/{LIVE}/ served /srv/app/venvs/k1\n")
    with pytest.raises(PushFailed, match=f"app2 lacks release {OLD}, the one before {LIVE}: nothing was rolled back"):
        rollback_target({"app1": held(), "app2": recreated, "app3": held()})


def test_rollback_has_nowhere_to_go_on_the_first_release_or_a_fresh_server() -> None:
    first = held(f"releases/{LIVE}\n/srv/app/releases/{LEFT}/ - k0\n/srv/app/releases/{LIVE}/ served k1\n")
    with pytest.raises(PushFailed, match=f"no release that went live before {LIVE}"):
        rollback_target({"app1": first})
    # a fresh server: `current` is the placeholder and the loop finds no release
    with pytest.raises(PushFailed, match="no release has been pushed yet"):
        rollback_target({"app1": held("/srv/app/releases/placeholder\n")})
    assert held("") == Releases("", {}, frozenset())


def test_status_names_each_server_out_of_rotation_where_and_why() -> None:
    since = 1764412345
    at = datetime.datetime.fromtimestamp(since).strftime("%H:%M:%S")
    listings = [
        ("web1", f"drained 10.77.0.21 {since}\nunhealthy 10.77.0.23 {since}\n"),
        ("web2", f"drained 10.77.0.21 {since}\n"),
        ("web3", ""),
    ]
    names = {"10.77.0.21": "app1", "10.77.0.22": "app2", "10.77.0.23": "app3"}
    assert out_of_rotation(listings, names) == {
        "app1": [f"web1 (drained by a push since {at})", f"web2 (drained by a push since {at})"],
        "app3": [f"web1 (health checks fail since {at})"],
    }


def test_status_keeps_what_it_cannot_name() -> None:
    """An address no longer in the topology (after `topology.app` was lowered), a damaged timestamp, a
    line that is not a reason: shown as they are or skipped, never a traceback."""
    listings = [("web1", "drained 10.77.0.29 garbage\nsomething else entirely\n\n")]
    assert out_of_rotation(listings, {}) == {"10.77.0.29": ["web1 (drained by a push since ?)"]}
