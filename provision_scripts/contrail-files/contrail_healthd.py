#!/usr/bin/python3
"""contrail-healthd: active health checks of the app servers, beside Nginx on every web node (baked into
the web box at /usr/local/sbin/contrail-healthd; started by supervisor with the app servers' addresses).

Nginx (Debian's nginx-light) has only passive checks: it keeps sending requests to a server that hangs
(a deadlock, a long GC pause, a frozen container) and waits on each. This daemon asks every app server's
`/_contrail/health` every INTERVAL seconds with a short TIMEOUT; after FALL failures in a row the server
leaves this node's upstream, after RISE successes it comes back, through the same `contrail-upstream`
that a push uses to drain a server (the two reasons are kept apart: a server is in rotation only when
neither holds), and the requests already waiting on it are handed back to Nginx (see `abandon`). The
health endpoint answers without calling the app, so a *slow* app stays in.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import threading
import time

INTERVAL = float(os.environ.get("CONTRAIL_CHECK_INTERVAL", "0.25"))
TIMEOUT = float(os.environ.get("CONTRAIL_CHECK_TIMEOUT", "0.5"))
FALL = int(os.environ.get("CONTRAIL_CHECK_FALL", "2"))
RISE = int(os.environ.get("CONTRAIL_CHECK_RISE", "2"))
STATE = "/run/contrail-upstream/unhealthy"


def answers(ip: str) -> bool:
    connection = http.client.HTTPConnection(ip, 8000, timeout=TIMEOUT)
    try:
        connection.request("GET", "/_contrail/health")
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def abandon(ip: str) -> None:
    """Reset Nginx's connections to a server just taken out: the requests waiting on them fail at once,
    and Nginx sends the idempotent ones to another server (`proxy_next_upstream error`), never a POST.
    (The web node's container has CAP_NET_ADMIN for this, in its own network namespace only.)"""
    subprocess.run(["ss", "-K", "dst", ip, "dport", "=", ":8000"], capture_output=True)


def watch(ip: str) -> None:
    up = not os.path.exists(os.path.join(STATE, ip))
    streak = 0
    while True:
        started = time.monotonic()
        if answers(ip) == up:
            streak = 0
        else:
            streak += 1
            if streak >= (FALL if up else RISE):
                done = subprocess.run(["/usr/local/sbin/contrail-upstream", "up" if not up else "down", ip])
                if done.returncode == 0:
                    up = not up
                    print(f"{ip} {'back in rotation' if up else 'out of rotation: health checks fail'}", flush=True)
                    if not up:
                        abandon(ip)
                streak = 0
        time.sleep(max(0.0, INTERVAL - (time.monotonic() - started)))


def main() -> None:
    watchers = [threading.Thread(target=watch, args=(ip,), daemon=True) for ip in sys.argv[1:]]
    for watcher in watchers:
        watcher.start()
    for watcher in watchers:
        watcher.join()


if __name__ == "__main__":
    main()
