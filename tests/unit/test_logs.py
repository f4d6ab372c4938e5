"""`contrail logs` knows where every box a topology can run logs (a box it did not know would tail
nothing: stdin, silently)."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

from contrail import config, topology
from contrail.watch.logs import LOGS


def test_every_box_a_topology_can_run_has_its_logs(tmp_path: Path) -> None:
    toml = tmp_path / "contrail.toml"
    toml.write_text('[environment]\nname = "shop"\n\n[app]\nwsgi = "app:application"\n')
    cfg = config.load(toml)
    boxes = set()
    for framework, db, cache in itertools.product(("wsgi", "tomcat"), topology.DATABASES, topology.CACHES):
        app = dataclasses.replace(cfg.app, framework=framework)
        variant = dataclasses.replace(cfg, app=app, db_engine=db, cache_engine=cache)
        boxes |= {n.box_name for n in topology.nodes(variant)}
    assert boxes == {"proxy", "web", "app", "tomcat", "db", "db-mariadb", "cache", "cache-memcached"}
    assert boxes <= set(LOGS)
