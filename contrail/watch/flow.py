"""User flows for `contrail check --flow FILE`: a few requests a user makes in order (log in, put
something in the session, read it back), replayed through the front door

- pinned: every step on the first app server;
- alternated: each step on the next app server (what a load balancer may do to any user);
- concurrently: N clients at once, each alternated from its own first server (`--concurrency N`),
  counting server errors and the app's database errors per step.

A step that passes pinned and fails alternated is state the app keeps on one server; one that fails
pinned too is the flow's (or, with several workers per server, state kept per process). Pinning is
the X-Contrail-Pin header, which the web nodes honour only on requests that come through HAProxy.

The flow file (TOML), one [[step]] per request, cookies kept between steps:

    [[step]]
    name = "log in"                          # optional, for the report
    method = "POST"                          # GET (default), POST, PUT, PATCH, DELETE
    path = "/admin/login/?next=/admin/"
    form = { username = "alice", password = "s3cret" }   # sent form-encoded
    status = 302                             # expected status (default: any below 400)
    text = "Site administration"             # expected in the body (optional)

"{client}" in a path or form value becomes the client's number (for --concurrency). Unsafe methods
carry Django's CSRF token from the csrftoken cookie, as a browser's JavaScript would.
"""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from contrail.config import read_toml
from contrail.errors import ConfigError

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
KEYS = {"name": str, "method": str, "path": str, "form": dict, "status": int, "text": str}
TIMEOUT = 15


@dataclass(frozen=True)
class Step:
    name: str
    method: str
    path: str
    form: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    text: str = ""

    def with_client(self, client: int) -> Step:
        def fill(value: str) -> str:
            return value.replace("{client}", str(client))

        return Step(
            self.name, self.method, fill(self.path), {k: fill(v) for k, v in self.form.items()}, self.status, self.text
        )


@dataclass(frozen=True)
class Outcome:
    step: int  # index in the flow
    server: str  # the app server asked (as pinned), "" when not pinned
    served_by: str  # X-Contrail-Node of the answer
    status: int
    problem: str  # "" when the step met its expectations

    @property
    def ok(self) -> bool:
        return not self.problem


def load(file: Path) -> list[Step]:
    """The steps of a flow file; an error names file:line and what is wrong."""
    text, data = read_toml(file)
    starts = [i + 1 for i, ln in enumerate(text.splitlines()) if re.match(r"^\s*\[\[step\]\]", ln)]
    unknown = [key for key in data if key != "step"]
    if unknown or not isinstance(data.get("step"), list) or not data["step"]:
        raise ConfigError(f"{file}:1: a flow is a list of [[step]] tables (found: {', '.join(data) or 'nothing'})")
    steps = []
    for index, raw in enumerate(data["step"]):
        where = f"{file}:{starts[index] if index < len(starts) else 1}"
        for key, value in raw.items():
            if key not in KEYS:
                raise ConfigError(f"{where}: step {index + 1}: unknown key {key!r} (known: {', '.join(KEYS)})")
            if not isinstance(value, KEYS[key]) or isinstance(value, bool):
                raise ConfigError(f"{where}: step {index + 1}: {key} must be a {KEYS[key].__name__}")
        if "path" not in raw or not str(raw["path"]).startswith("/"):
            raise ConfigError(f"{where}: step {index + 1}: path must be given and start with '/'")
        method = raw.get("method", "GET").upper()
        if method not in METHODS:
            raise ConfigError(f"{where}: step {index + 1}: method must be one of {', '.join(METHODS)}")
        form = raw.get("form", {})
        if not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in form.values()):
            raise ConfigError(f"{where}: step {index + 1}: form values must be strings or numbers")
        steps.append(
            Step(
                raw.get("name", f"{method} {raw['path']}"),
                method,
                raw["path"],
                {str(k): str(v) for k, v in form.items()},
                raw.get("status"),
                raw.get("text", ""),
            )
        )
    return steps


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is the step's answer (a login's 302), not something to follow."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


class Client:
    """One user: a cookie jar and a front door; never resends a request."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def send(self, step: Step, index: int, pin: str = "") -> Outcome:
        headers = {"X-Contrail-Pin": pin} if pin else {}
        csrf = next((c.value for c in self.jar if c.name == "csrftoken"), None)
        if step.method != "GET" and csrf:
            headers["X-CSRFToken"] = csrf
        data = urllib.parse.urlencode(step.form).encode() if step.method != "GET" else None
        request = urllib.request.Request(self.base + step.path, data=data, headers=headers, method=step.method)
        try:
            with self.opener.open(request, timeout=TIMEOUT) as response:
                status, body, node = response.status, response.read().decode(errors="replace"), response.headers
        except urllib.error.HTTPError as err:
            status, body, node = err.code, err.read().decode(errors="replace"), err.headers
        except OSError as err:
            return Outcome(index, pin, "", 0, f"no answer: {err}")
        served_by = node.get("X-Contrail-Node", "") if node else ""
        return Outcome(index, pin, served_by, status, _problem(step, status, body, pin, served_by))


def _problem(step: Step, status: int, body: str, pin: str, served_by: str) -> str:
    if pin and served_by and served_by != pin:
        return f"was served by {served_by}, not {pin}: the pin was not honoured"
    if step.status is not None and status != step.status:
        return f"answered HTTP {status}, expected {step.status}"
    if step.status is None and status >= 400:
        return f"answered HTTP {status}"
    if step.text and step.text not in body:
        return f"answered HTTP {status} without {step.text!r}"
    return ""


def replay(base: str, steps: list[Step], servers: list[str], client: int = 0) -> list[Outcome]:
    """The flow once as one user: step i on servers[(client + i) % len(servers)]; stops at the first
    step that fails (the ones after it depend on it)."""
    user = Client(base)
    outcomes = []
    for index, step in enumerate(steps):
        outcome = user.send(step.with_client(client), index, servers[(client + index) % len(servers)])
        outcomes.append(outcome)
        if not outcome.ok:
            break
    return outcomes


@dataclass(frozen=True)
class Crowd:
    """N clients' outcomes: per step, how many answered 5xx and how many failed otherwise."""

    clients: int
    server_errors: Counter[int]
    failures: Counter[int]
    examples: dict[int, str]


def crowd(base: str, steps: list[Step], servers: list[str], clients: int) -> Crowd:
    """`clients` users at once, each alternated from its own first server."""
    results: list[list[Outcome]] = [[] for _ in range(clients)]

    def user(number: int) -> None:
        results[number] = replay(base, steps, servers, client=number)

    threads = [threading.Thread(target=user, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    server_errors: Counter[int] = Counter()
    failures: Counter[int] = Counter()
    examples: dict[int, str] = {}
    for outcome in (o for outcomes in results for o in outcomes if not o.ok):
        (server_errors if outcome.status >= 500 else failures)[outcome.step] += 1
        examples.setdefault(outcome.step, f"{outcome.server or 'any'}: {outcome.problem}")
    return Crowd(clients, server_errors, failures, examples)
