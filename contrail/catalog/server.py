"""`contrail catalog serve`: a team's box catalog on real servers, on the host's loopback by default.

One port serves everything: Debian's nginx serves the catalog's static files (metadata.json, .box
files) and accepts WebDAV PUT/DELETE from `contrail publish`, and proxies /v2/ to Debian's
docker-registry (Distribution 2.8), which listens only on a unix socket behind it.

nginx asks for a generated user and password (run/credentials, 0600) for every write — a PUT or DELETE
of a catalog file (a .box's Vagrantfile is executed by every teammate's Vagrant) — and for the registry,
pushes and pulls alike: docker sends credentials only to a registry whose /v2/ asks for them, so a
registry that lets anyone pull cannot make pushes ask. Reading metadata.json and .box files needs
none: they hold names, versions and digests, not the boxes' content, and stock Vagrant 2.3.4 cannot
send credentials for them everywhere (`vagrant box update` passes none when it downloads a box file).

Layout of DIR (the whole state; back it up as one directory):
  catalog/   the static tree: index.json, <team>/<box>/metadata.json, <team>/<box>/<version>/*.box
  registry/  the registry's storage (image layers and manifests)
  run/       generated server configs, pid files, logs, htpasswd and credentials (0600)
"""

from __future__ import annotations

import base64
import grp
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from contrail.catalog.store import write_atomic
from contrail.errors import FIX_DEPS, ConfigError, ContrailError, ToolFailed, ToolMissing
from contrail.tools import registry
from contrail.tools.run import run

PORT = 8070
USER = "contrail"
# Who serves the files and the registry when `serve` runs as root: nginx's workers and docker-registry
# parse what the network sends, so they run as a system user of their own (made on first use) that owns
# the catalog's data and reads its password hashes — never as root.
SERVICE_USER = "contrail-catalog"
SYSTEM_DIR = Path("/var/lib/contrail/catalog")  # the default directory when run as root


def default_dir() -> Path:
    """~/.contrail/catalog; as root /var/lib/contrail/catalog (root's home is closed to the service user)."""
    return SYSTEM_DIR if os.geteuid() == 0 else Path.home() / ".contrail" / "catalog"


@dataclass(frozen=True)
class Served:
    url: str
    root: Path
    already_running: bool


def layout(root: Path) -> dict[str, Path]:
    run_dir = root / "run"
    return {
        "catalog": root / "catalog",
        "registry": root / "registry",
        "run": run_dir,
        "nginx_conf": run_dir / "nginx.conf",
        "nginx_pid": run_dir / "nginx.pid",
        "registry_conf": run_dir / "registry.yml",
        "registry_pid": run_dir / "registry.pid",
        "htpasswd": run_dir / "htpasswd",
        "credentials": run_dir / "credentials",
        "address": run_dir / "address",
        "logs": run_dir / "logs",
    }


def registry_socket(root: Path) -> Path:
    """A short path (unix socket paths are limited to 107 bytes), unique per catalog directory."""
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"contrail-registry-{digest}.sock"


def serve(root: Path, port: int = PORT, listen: str = "127.0.0.1", wait: float = 20.0) -> Served:
    for tool in ("nginx", "docker-registry"):
        if not shutil.which(tool):
            raise ToolMissing(f"`{tool}` is not installed (needed by `contrail catalog serve`)", FIX_DEPS)
    root = root.resolve()
    paths = layout(root)
    url = f"http://{'127.0.0.1' if listen in ('0.0.0.0', '::') else listen}:{port}"
    if running(root):
        current = paths["address"].read_text().strip() if paths["address"].exists() else ""
        if current == f"{listen}:{port}":
            return Served(url, root, already_running=True)
        raise ContrailError(
            f"a catalog server for {root} is already running on {current}",
            f"stop it first: contrail catalog serve --dir {root} --stop",
        )
    _check_port_free(listen, port)
    for key in ("catalog", "registry", "logs"):
        paths[key].mkdir(parents=True, exist_ok=True)
    (paths["run"] / "tmp").mkdir(exist_ok=True)
    _ensure_credentials(paths)
    service = _service_user(root)
    sock = registry_socket(root)
    write_atomic(paths["registry_conf"], _registry_config(paths, sock).encode(), 0o600)
    write_atomic(paths["nginx_conf"], _nginx_config(paths, sock, listen, port, service).encode())
    nginx = ["nginx", "-p", str(paths["run"]), "-c", str(paths["nginx_conf"]), "-e", str(paths["logs"] / "nginx.log")]
    run([*nginx, "-t", "-q"], log=paths["logs"] / "nginx-test.log")
    gc_log = paths["logs"] / "registry-gc.log"
    if any(paths["registry"].iterdir()):
        # Reclaims the layers of images `contrail catalog prune` deleted (the registry must be stopped).
        registry.garbage_collect(paths["registry_conf"], gc_log)
    sock.unlink(missing_ok=True)
    if service:
        _hand_over(paths, service)
    registry_pid = registry.start(paths["registry_conf"], paths["logs"] / "registry.log", service)
    paths["registry_pid"].write_text(f"{registry_pid}\n")
    try:
        run(nginx, log=paths["logs"] / "nginx-start.log")
        paths["address"].write_text(f"{listen}:{port}\n")
        _wait_ready(url, paths, wait)
    except BaseException:
        stop(root)  # never leave half of the servers running
        raise
    return Served(url, root, already_running=False)


def stop(root: Path, wait: float = 10.0) -> bool:
    """Stop both servers; True when something was running."""
    paths = layout(root.resolve())
    stopped = False
    for key in ("nginx_pid", "registry_pid"):
        pid = _pid(paths[key])
        if pid is None:
            continue
        os.kill(pid, signal.SIGQUIT if key == "nginx_pid" else signal.SIGTERM)  # nginx: graceful
        deadline = time.monotonic() + wait
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        paths[key].unlink(missing_ok=True)
        stopped = True
    registry_socket(root).unlink(missing_ok=True)
    return stopped


def running(root: Path) -> bool:
    paths = layout(root.resolve())
    return _pid(paths["nginx_pid"]) is not None and _pid(paths["registry_pid"]) is not None


def credentials(root: Path) -> str:
    file = layout(root.resolve())["credentials"]
    if not file.exists():
        raise ContrailError(f"the catalog in {root} has no credentials yet", "start it with `contrail catalog serve`")
    return file.read_text().strip()


def _ensure_credentials(paths: dict[str, Path]) -> None:
    """A generated user:password (0600) and nginx's htpasswd for it (salted SHA-1, nginx's {SSHA})."""
    if not paths["credentials"].exists():
        write_atomic(paths["credentials"], f"{USER}:{secrets.token_urlsafe(18)}\n".encode(), 0o600)
    user, _, password = paths["credentials"].read_text().strip().partition(":")
    salt = secrets.token_bytes(8)
    digest = base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()
    write_atomic(paths["htpasswd"], f"{user}:{{SSHA}}{digest}\n".encode(), 0o600)


def _service_user(root: Path) -> pwd.struct_passwd | None:
    """The service user (made if missing) when running as root, after checking it can reach `root`;
    None otherwise (the servers then run as the user who runs `serve`)."""
    if os.geteuid() != 0:
        return None
    closed = [d for d in root.parents if not os.stat(d).st_mode & 0o001]
    if closed:
        raise ConfigError(
            f"{root} is out of reach of the catalog's service user {SERVICE_USER}: {closed[0]} is closed to others",
            f"serve a directory it can reach, e.g. --dir {SYSTEM_DIR} (the default as root)",
        )
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        home = ["--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"]
        run(["useradd", "--system", *home, "--user-group", SERVICE_USER])
        return pwd.getpwnam(SERVICE_USER)


def _hand_over(paths: dict[str, Path], service: pwd.struct_passwd) -> None:
    """What the servers write (catalog files, registry storage, nginx's temporary files) owned by the
    service user; the registry's config and the password hashes readable by its group; the generated
    credentials themselves stay root's (0600)."""
    owner = f"{service.pw_uid}:{service.pw_gid}"
    run(["chown", "-R", owner, str(paths["catalog"]), str(paths["registry"]), str(paths["run"] / "tmp")])
    for key in ("registry_conf", "htpasswd"):
        os.chown(paths[key], 0, service.pw_gid)
        paths[key].chmod(0o640)
    for directory in (paths["catalog"].parent, paths["run"]):
        directory.chmod(0o755)


def _registry_config(paths: dict[str, Path], sock: Path) -> str:
    return f"""# Generated by `contrail catalog serve`; rewritten on every start.
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {paths["registry"]}
  delete:
    enabled: true
http:
  net: unix
  addr: {sock}
  secret: {secrets.token_hex(16)}
"""


def _nginx_config(paths: dict[str, Path], sock: Path, listen: str, port: int, service: pwd.struct_passwd | None) -> str:
    user = f"user {service.pw_name} {grp.getgrgid(service.pw_gid).gr_name};\n" if service else ""
    tmp = paths["run"] / "tmp"
    auth_lines = f'auth_basic "Contrail box catalog"; auth_basic_user_file {paths["htpasswd"]};'
    writes = f"limit_except GET HEAD {{ {auth_lines} }}"
    return f"""# Generated by `contrail catalog serve`; rewritten on every start.
{user}worker_processes 2;
pid {paths["nginx_pid"]};
error_log {paths["logs"] / "nginx.log"} warn;
events {{ worker_connections 256; }}
http {{
  types {{ application/json json; text/plain txt; }}
  default_type application/octet-stream;
  access_log {paths["logs"] / "access.log"};
  client_body_temp_path {tmp / "body"};
  proxy_temp_path {tmp / "proxy"};
  fastcgi_temp_path {tmp / "fastcgi"};
  uwsgi_temp_path {tmp / "uwsgi"};
  scgi_temp_path {tmp / "scgi"};
  sendfile on;
  server_tokens off;
  # The registry's API version header, also on nginx's own 401 (docker login needs it).
  map $upstream_http_docker_distribution_api_version $registry_api {{ '' 'registry/2.0'; }}
  server {{
    listen {listen}:{port};
    client_max_body_size 0;
    location /v2/ {{
      {auth_lines}
      proxy_pass http://unix:{sock}:;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_read_timeout 900;
      add_header Docker-Distribution-Api-Version $registry_api always;
    }}
    location / {{
      root {paths["catalog"]};
      autoindex on;
      autoindex_format json;
      # WebDAV: a PUT lands in a temporary file and is renamed into place once complete.
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
      {writes}
    }}
  }}
}}
"""


def _wait_ready(url: str, paths: dict[str, Path], wait: float) -> None:
    request = urllib.request.Request(f"{url}/v2/")
    token = base64.b64encode(paths["credentials"].read_text().strip().encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    deadline = time.monotonic() + wait
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as err:
            last = str(getattr(err, "reason", err))
        time.sleep(0.2)
    raise ToolFailed(
        f"the catalog server did not answer on {url}/v2/ within {wait:.0f} s ({last})",
        f"see {paths['logs']}/registry.log and nginx.log",
    )


def _check_port_free(listen: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in listen else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((listen, port))
        except OSError as err:
            raise ConfigError(f"{listen}:{port} is not available ({err.strerror})", "choose another --port") from None


def _pid(file: Path) -> int | None:
    try:
        pid = int(file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own child that exited) is not alive.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True
