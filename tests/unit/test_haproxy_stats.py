"""The stats CSV parser, on output captured from the real HAProxy 2.6 of a running topology."""

from pathlib import Path

from contrail.environment import haproxy_stats

FIXTURES = Path(__file__).parent.parent / "fixtures" / "haproxy"


def test_servers_of_a_healthy_topology():
    stats = haproxy_stats.parse((FIXTURES / "stats-2.6.csv").read_text())
    assert [(s.proxy, s.server, s.status) for s in stats] == [("web", "web1", "UP"), ("web", "web2", "UP")]
    assert all(s.up and s.check_status.startswith("L7") for s in stats)


def test_a_stopped_web_node_is_down():
    stats = {s.server: s for s in haproxy_stats.parse((FIXTURES / "stats-2.6-web2-down.csv").read_text())}
    assert stats["web1"].up
    assert not stats["web2"].up and stats["web2"].status == "DOWN"


def test_only_settled_servers_count_as_in_rotation():
    """A push waits for these: a node going down (UP 1/2) or coming back (DOWN 1/2) is not settled yet."""
    text = (FIXTURES / "stats-2.6-web2-down.csv").read_text()
    assert [s.in_rotation for s in haproxy_stats.parse(text)] == [True, False]
    for status, settled in (("UP 1/2", False), ("DOWN 1/2", False), ("MAINT", True), ("DRAIN", True)):
        stats = haproxy_stats.parse(text.replace(",DOWN,", f",{status},"))
        assert stats[1].status == status and stats[1].in_rotation is settled
