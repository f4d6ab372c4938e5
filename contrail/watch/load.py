"""`contrail load`: a bounded HTTP load against the topology's front door, from the host.

A small asyncio HTTP/1.1 client (keep-alive, N concurrent connections) rather than wrk or locust:
it reads Contrail's X-Contrail-Release and X-Contrail-Node headers, so a run reports which releases
and which app servers answered, which is what a rolling push or a drill must show. Bounded by a
request count and a duration, whichever comes first (or a `stop` event); never anything but the given
loopback URL.

It never resends: a connection the server closes without answering is a failed request, as it is for
`curl`, `requests` and most API clients (browsers often resend an idempotent request once, which hides
exactly the drops a push must not cause).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from contrail.errors import ContrailError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class LoadReport:
    requests: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # status (or error) → count
    releases: Counter[str] = field(default_factory=Counter)
    nodes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    timeline: list[tuple[float, bool, str]] = field(default_factory=list)  # (at, ok, release)
    waits: list[tuple[float, float, str]] = field(default_factory=list)  # (at, seconds until it ended, node)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self) -> str:
        rate = self.requests / self.seconds if self.seconds else 0.0
        lines = [
            f"{self.requests} requests in {self.seconds:.1f} s ({rate:.0f}/s), {self.failed} failed"
            + (f" ({dict(self.failures)})" if self.failures else ""),
            f"latency p50 {self.percentile(50) * 1000:.1f} ms, p90 {self.percentile(90) * 1000:.1f} ms, "
            f"p99 {self.percentile(99) * 1000:.1f} ms, max {max(self.latencies, default=0) * 1000:.1f} ms",
            "app servers: " + ", ".join(f"{n} {c}" for n, c in sorted(self.nodes.items())),
            "releases: " + ", ".join(f"{r} {c}" for r, c in sorted(self.releases.items())),
        ]
        return "\n".join(lines)


def run(
    url: str, *, seconds: float, max_requests: int, concurrency: int, stop: threading.Event | None = None
) -> LoadReport:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK:
        raise ContrailError(f"load goes only to this machine's loopback over http, not {url!r}")
    if not 1 <= concurrency <= 256 or seconds <= 0 or max_requests < 1:
        raise ContrailError("load needs --seconds > 0, --requests ≥ 1 and 1–256 connections")
    return asyncio.run(
        _load(
            parts.hostname or "127.0.0.1",
            parts.port or 80,
            parts.path or "/",
            seconds,
            max_requests,
            concurrency,
            stop or threading.Event(),
        )
    )


async def _load(
    host: str, port: int, path: str, seconds: float, max_requests: int, concurrency: int, stop: threading.Event
) -> LoadReport:
    report = LoadReport()
    started = time.monotonic()
    deadline = started + seconds
    budget = iter(range(max_requests))

    async def worker() -> None:
        reader = writer = None
        while time.monotonic() < deadline and not stop.is_set() and next(budget, None) is not None:
            sent = time.monotonic()
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
                assert reader is not None
                status, headers = await asyncio.wait_for(_request(reader, writer, host, path), 10)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, ClosedUnanswered) as err:
                report.failures[type(err).__name__] += 1
                report.timeline.append((sent - started, False, ""))
                report.waits.append((sent - started, time.monotonic() - sent, ""))
                writer = _close(writer)
                continue
            finally:
                report.requests += 1
            report.latencies.append(time.monotonic() - sent)
            release = headers.get("x-contrail-release", "")
            ok = status < 500
            if not ok:
                report.failures[str(status)] += 1
            report.releases[release] += 1
            report.nodes[headers.get("x-contrail-node", "?")] += 1
            report.timeline.append((sent - started, ok, release))
            report.waits.append((sent - started, time.monotonic() - sent, headers.get("x-contrail-node", "?")))
            if headers.get("connection", "").lower() == "close":
                writer = _close(writer)
        _close(writer)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    report.seconds = time.monotonic() - started
    return report


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str
) -> tuple[int, dict[str, str]]:
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: contrail-load\r\n\r\n".encode())
        await writer.drain()
        status_line = await reader.readline()
    except ConnectionResetError:
        raise ClosedUnanswered() from None
    if not status_line:
        raise ClosedUnanswered()
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while (size := int((await reader.readline()).strip() or b"0", 16)) > 0:
            await reader.readexactly(size + 2)
        await reader.readline()
    return status, headers


class ClosedUnanswered(Exception):
    """The server closed the connection before any byte of an answer arrived (Python's http.client says
    RemoteDisconnected; `requests`, ConnectionError)."""


def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.close()
