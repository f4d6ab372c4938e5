"""The nodes of an environment, their roles and fixed private addresses (derived, never stored)."""

from __future__ import annotations

from dataclasses import dataclass

from contrail.config import DevConfig


@dataclass(frozen=True)
class Database:
    box: str  # the box the database node runs
    port: int
    scheme: str  # of the app's DATABASE_URL


# contrail.toml's db.engine → what serves it ("mysql" is MariaDB, the db role's MySQL variant).
DATABASES = {"postgresql": Database("db", 5432, "postgresql"), "mysql": Database("db-mariadb", 3306, "mysql")}
# Not "db": Vagrant 2.3.4 resolves a machine name given to `vagrant up`/`ssh` as a prefix of the UUIDs in its
# global machine index first, and every name made only of hex digits ("db") can match one — then Vagrant acts
# on some other machine (seen: `up` locked app3 twice and never started db). Node names need a non-hex letter.
DATABASE_NODE = "database"


@dataclass(frozen=True)
class Cache:
    box: str
    port: int
    scheme: str  # of the app's CACHE_URL


# contrail.toml's cache.engine → what serves it (Memcached is the cache role's variant).
CACHES = {"redis": Cache("cache", 6379, "redis"), "memcached": Cache("cache-memcached", 11211, "memcached")}
CACHE_NODE = "cache"


@dataclass(frozen=True)
class Node:
    """A machine of an environment (a developer's topology or the team's services)."""

    name: str
    role: str  # what it does: proxy, web, app, db, cache; the team's scm, ci, apt-cache
    ip: str
    box: str = ""  # the box it runs, when not the one named after its role
    port: int = 0  # where its service answers (the team's report)
    engine: str = ""  # what serves it (the team's: postgresql, mysql, git, buildbot, apt, http)
    configure: str = ""  # its configure script, relative to the environment's directory (the team's)
    topology_name: str = ""  # a staging topology node's name in its topology (proxy, web1, app1)

    @property
    def box_name(self) -> str:
        return self.box or self.role


def nodes(cfg: DevConfig) -> list[Node]:
    """proxy .10, web1.. .21+, app1.. .41+, database .5, cache .6 on the environment's /24."""
    net = cfg.subnet.network_address

    def at(offset: int) -> str:
        return str(net + offset)

    result = [Node("proxy", "proxy", at(10))]
    result += [Node(f"web{i}", "web", at(20 + i)) for i in range(1, cfg.web + 1)]
    app_box = "tomcat" if cfg.app.server == "tomcat" else ""  # (Gunicorn's box is the app role's own)
    result += [Node(f"app{i}", "app", at(40 + i), app_box) for i in range(1, cfg.app_nodes + 1)]
    result.append(Node(DATABASE_NODE, "db", at(5), DATABASES[cfg.db_engine].box))
    if cfg.cache_nodes:
        result.append(Node(CACHE_NODE, "cache", at(6), CACHES[cfg.cache_engine].box))
    return result


def boxes(cfg: DevConfig) -> list[str]:
    """The boxes an environment runs: proxy, web, its app servers', its database engine's and its cache's."""
    return list(dict.fromkeys(n.box_name for n in nodes(cfg)))


def database(cfg: DevConfig) -> Database:
    return DATABASES[cfg.db_engine]


def cache(cfg: DevConfig) -> Cache:
    return CACHES[cfg.cache_engine]


def by_role(cfg: DevConfig, role: str) -> list[Node]:
    return [n for n in nodes(cfg) if n.role == role]
