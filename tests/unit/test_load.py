"""`contrail load` against a real HTTP server on loopback that closes a keep-alive connection without
answering, as Nginx's old workers do during a reload: the load counts it as failed, never resends."""

from __future__ import annotations

import socket
import threading

from contrail.watch import load


def closing_server(listener: socket.socket, answered: list[int]) -> None:
    """Per connection: answer one request (keep-alive), then close on the next without a byte."""
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection:
            for request in range(2):
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if not data or request == 1:
                    break
                answered.append(1)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Contrail-Release: r1\r\n\r\nok")


def test_a_connection_closed_without_an_answer_is_a_failed_request_and_never_resent() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    answered: list[int] = []
    server = threading.Thread(target=closing_server, args=(listener, answered), daemon=True)
    server.start()
    try:
        port = listener.getsockname()[1]
        report = load.run(f"http://127.0.0.1:{port}/", seconds=10, max_requests=6, concurrency=1)
    finally:
        listener.close()
    assert report.requests == 6
    assert report.failures == {"ClosedUnanswered": 3}, report.failures
    assert report.releases == {"r1": 3} and len(answered) == 3, "each failed request was sent exactly once"


def test_a_stop_event_ends_the_load() -> None:
    stop = threading.Event()
    stop.set()
    report = load.run("http://127.0.0.1:9/", seconds=60, max_requests=10**6, concurrency=4, stop=stop)
    assert report.requests == 0
