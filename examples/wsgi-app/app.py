"""A plain WSGI app for Contrail: which app server answered, running which release."""

import os
import socket


def application(environ, start_response):
    node = os.environ.get("CONTRAIL_NODE") or socket.gethostname()
    release = os.environ.get("CONTRAIL_RELEASE", "local")
    body = f"Hello from a plain WSGI app on {node}, release {release}.\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
