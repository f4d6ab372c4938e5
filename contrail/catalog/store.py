"""Where a catalog's files live: a local directory (file:// or a path) or an HTTP server.

Both stores offer the same few operations, and both make a write atomic: a local write goes to a
temporary file in the same directory, is fsynced and renamed over the old one; an HTTP write is a
WebDAV PUT, which `contrail catalog serve`'s nginx writes to a temporary file and renames into place
when the whole body arrived. A reader therefore sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPResponse
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

from contrail.digest import file_sha256
from contrail.errors import ConfigError, ToolFailed

TIMEOUT = 30.0
READ_LIMIT = 64 * 1024 * 1024  # bytes of one catalog file read: metadata.json, a docker .box (KBs)
CHUNK = 1 << 20  # a VM box (hundreds of MB) is streamed in pieces of this size
T = TypeVar("T")


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects keep the credentials only on the host that was given them: urllib copies every header,
    Authorization included, to wherever a redirect points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


_OPENER = urllib.request.build_opener(_SameHostRedirects())


@dataclass(frozen=True)
class CatalogURL:
    """A catalog's address split from its credentials (which never go into files others read)."""

    base: str  # http(s)://host[:port][/path] or file:///abs/path, no trailing slash, no credentials
    user: str = ""
    password: str = ""

    @property
    def is_http(self) -> bool:
        return self.base.startswith(("http://", "https://"))

    @property
    def netloc(self) -> str:
        return urllib.parse.urlsplit(self.base).netloc

    @property
    def auth(self) -> str:
        return f"{self.user}:{self.password}" if self.user else ""

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"


def parse_url(text: str) -> CatalogURL:
    """http(s)://[user:password@]host[:port][/path], file:///path or a plain directory path."""
    if "://" not in text:
        return CatalogURL(Path(text).expanduser().resolve().as_uri())
    parts = urllib.parse.urlsplit(text)
    if parts.scheme == "file":
        return CatalogURL(Path(urllib.parse.unquote(parts.path)).resolve().as_uri())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"catalog {text!r} is not an http(s):// URL, a file:// URL or a directory",
            "e.g. --catalog http://127.0.0.1:8070",
        )
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return CatalogURL(base, urllib.parse.unquote(parts.username or ""), urllib.parse.unquote(parts.password or ""))


class Store(Protocol):
    location: CatalogURL

    def read(self, path: str) -> bytes | None: ...
    def write(self, path: str, data: bytes) -> None: ...
    def write_file(self, path: str, source: Path) -> None:
        """`source` stored at `path`, streamed (a VM box is a gigabyte: never read whole into memory)."""
        ...

    def sha256(self, path: str) -> str | None:
        """The stored file's sha256, computed as it streams by; None when there is no such file."""
        ...

    def delete(self, path: str) -> None: ...
    def listdir(self, path: str) -> list[str] | None: ...
    def check_writable(self) -> None: ...


def open_store(location: CatalogURL) -> Store:
    return HttpStore(location) if location.is_http else LocalStore(location)


class LocalStore:
    def __init__(self, location: CatalogURL) -> None:
        self.location = location
        self.root = Path(urllib.parse.unquote(urllib.parse.urlsplit(location.base).path))
        if not self.root.is_dir():
            raise ConfigError(f"catalog directory {self.root} does not exist", f"create it first: mkdir -p {self.root}")

    def read(self, path: str) -> bytes | None:
        file = self.root / path
        return file.read_bytes() if file.is_file() else None

    def write(self, path: str, data: bytes) -> None:
        write_atomic(self.root / path, data)

    def write_file(self, path: str, source: Path) -> None:
        with source.open("rb") as handle:
            write_atomic(self.root / path, handle)

    def sha256(self, path: str) -> str | None:
        file = self.root / path
        return file_sha256(file) if file.is_file() else None

    def delete(self, path: str) -> None:
        (self.root / path).unlink(missing_ok=True)
        parent = (self.root / path).parent
        while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent

    def check_writable(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise ConfigError(f"catalog directory {self.root} is not writable", "check its owner and mode")

    def listdir(self, path: str) -> list[str] | None:
        folder = self.root / path
        return sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()) if folder.is_dir() else []


def write_atomic(target: Path, data: bytes | BinaryIO, mode: int = 0o644) -> None:
    """Write `data` (bytes, or a file streamed from) to `target` so that a reader sees the old content or
    all of the new, never a part."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if isinstance(data, bytes):
                handle.write(data)
            else:
                shutil.copyfileobj(data, handle, CHUNK)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class HttpStore:
    """A catalog behind HTTP: GET to read, WebDAV PUT/DELETE to write (nginx's dav module)."""

    def __init__(self, location: CatalogURL) -> None:
        self.location = location

    def request(
        self, method: str, path: str, data: bytes | BinaryIO | None = None, accept: str = "", size: int = 0
    ) -> tuple[int, bytes]:
        """One request; the answer's status and body (at most READ_LIMIT: catalog files are small)."""

        def body(response: HTTPResponse) -> bytes:
            read = response.read(READ_LIMIT + 1)
            if len(read) > READ_LIMIT:
                raise ToolFailed(
                    f"catalog {self.location.base}: {path} is larger than {READ_LIMIT // 2**20} MiB",
                    "a catalog file is metadata.json or a small docker .box: is this URL a Contrail catalog?",
                )
            return read

        return self._open(method, path, body, data, accept, size)

    def _open(
        self,
        method: str,
        path: str,
        consume: Callable[[HTTPResponse], T],
        data: bytes | BinaryIO | None = None,
        accept: str = "",
        size: int = 0,
    ) -> tuple[int, T | bytes]:
        """One request, its answer read by `consume` (an error's body, at most READ_LIMIT, as is)."""
        url = self.location.url(path)
        req = urllib.request.Request(url, data=data, method=method)
        if self.location.user:
            token = base64.b64encode(self.location.auth.encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        if accept:
            req.add_header("Accept", accept)
        if data is not None and not isinstance(data, bytes):
            req.add_header("Content-Length", str(size))  # (a file object would otherwise go chunked)
        try:
            with _OPENER.open(req, timeout=TIMEOUT) as response:
                return response.status, consume(response)
        except urllib.error.HTTPError as err:
            if err.code in (401, 403):
                what = (
                    f"refused the credentials of user {self.location.user!r}"
                    if self.location.user
                    else "asks for credentials"
                )
                raise ConfigError(
                    f"catalog {self.location.base} {what} (HTTP {err.code})",
                    "put the right user:password in the URL (http://USER:PASSWORD@host:port); "
                    "`contrail catalog serve --show-credentials` prints them on the server",
                ) from None
            return err.code, err.read(READ_LIMIT)
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise ConfigError(
                f"catalog {self.location.base} is unreachable ({reason})",
                "start it with `contrail catalog serve`, or check the URL",
            ) from None

    def read(self, path: str) -> bytes | None:
        status, body = self.request("GET", path)
        if status == 404:
            return None
        self._expect(status, "GET", path)
        return body

    def write(self, path: str, data: bytes) -> None:
        status, _ = self.request("PUT", path, data)
        self._expect(status, "PUT", path)

    def write_file(self, path: str, source: Path) -> None:
        with source.open("rb") as handle:
            status, _ = self.request("PUT", path, handle, size=source.stat().st_size)
        self._expect(status, "PUT", path)

    def sha256(self, path: str) -> str | None:
        def digest(response: HTTPResponse) -> str:
            h = hashlib.sha256()
            while chunk := response.read(CHUNK):
                h.update(chunk)
            return h.hexdigest()

        status, answer = self._open("GET", path, digest)
        if status == 404:
            return None
        self._expect(status, "GET", path)
        assert isinstance(answer, str)
        return answer

    def delete(self, path: str) -> None:
        status, _ = self.request("DELETE", path)
        if status != 404:
            self._expect(status, "DELETE", path)

    def check_writable(self) -> None:
        """Credentials for writing are right (a DELETE of nothing: 404 when allowed, 401 when not)."""
        self.delete(".contrail-write-check")

    def listdir(self, path: str) -> list[str] | None:
        """Directory entries from nginx's JSON autoindex; None when the server does not list directories."""
        status, body = self.request("GET", path.rstrip("/") + "/" if path else "")
        if status == 404:
            return []
        try:
            entries = json.loads(body)
            return sorted(e["name"] + ("/" if e.get("type") == "directory" else "") for e in entries)
        except (ValueError, TypeError, KeyError):
            return None

    def _expect(self, status: int, method: str, path: str) -> None:
        if not 200 <= status < 300:
            raise ToolFailed(
                f"catalog {self.location.base}: {method} {path} answered HTTP {status}",
                "is the server a Contrail catalog (`contrail catalog serve`) that accepts PUT?",
            )
