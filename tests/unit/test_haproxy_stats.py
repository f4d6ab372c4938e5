"""The stats CSV parser, on output captured from the real HAProxy 2.6 of a running topology."""

from pathlib import Path

from contrail import haproxy_stats

FIXTURES = Path(__file__).parent.parent / "fixtures" / "haproxy"


def test_servers_of_a_healthy_topology():
    stats = haproxy_stats.parse((FIXTURES / "stats-2.6.csv").read_text())
    assert [(s.proxy, s.server, s.status) for s in stats] == [("web", "web1", "UP"), ("web", "web2", "UP")]
    assert all(s.up and s.check_status.startswith("L7") for s in stats)


def test_a_stopped_web_node_is_down():
    stats = {s.server: s for s in haproxy_stats.parse((FIXTURES / "stats-2.6-web2-down.csv").read_text())}
    assert stats["web1"].up
    assert not stats["web2"].up and stats["web2"].status == "DOWN"
