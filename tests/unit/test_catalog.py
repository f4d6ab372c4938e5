"""The catalog's format, stores and prune logic, without servers (a file:// catalog is a directory)."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from contrail.catalog import metadata as fmt
from contrail.catalog import publish as catalog
from contrail.catalog.store import LocalStore, parse_url, write_atomic
from contrail.environment import providers
from contrail.errors import ConfigError

IMAGE = "127.0.0.1:8070/team/web@sha256:" + "a" * 64


def provider(version: str, checksum: str = "b" * 64, url: str = "") -> fmt.Provider:
    return fmt.Provider("docker", url or f"file:///c/team/web/{version}/docker.box", checksum, 400, IMAGE, 1000)


def test_versions_are_semantic_and_the_default_is_the_next_patch():
    assert fmt.parse_version("1.10.0") > fmt.parse_version("1.9.3")
    assert fmt.next_patch("1.4.9") == "1.4.10"
    for bad in ("1.0", "v1.0.0", "01.0.0", "1.0.0-rc1"):
        with pytest.raises(ConfigError, match=r"MAJOR\.MINOR\.PATCH"):
            fmt.parse_version(bad)


def test_metadata_round_trips_in_vagrants_format_newest_first():
    meta = fmt.BoxMetadata("team/web", "web box")
    for number in ("1.0.0", "1.2.0", "1.1.0"):
        meta = meta.with_version(fmt.Version(number, [provider(number)]))
    data = json.loads(meta.to_bytes())
    assert [v["version"] for v in data["versions"]] == ["1.2.0", "1.1.0", "1.0.0"]
    first = data["versions"][0]["providers"][0]
    assert first["name"] == "docker" and first["checksum_type"] == "sha256" and first["url"].endswith(".box")
    again = fmt.parse_metadata(meta.to_bytes(), "m.json")
    assert again.latest().version == "1.2.0" and again.find("1.1.0").provider("docker").image == IMAGE


def test_replacing_a_version_keeps_one_entry():
    meta = fmt.BoxMetadata("team/web").with_version(fmt.Version("1.0.0", [provider("1.0.0")]))
    meta = meta.with_version(fmt.Version("1.0.0", [provider("1.0.0", checksum="c" * 64)]))
    assert len(meta.versions) == 1 and meta.versions[0].providers[0].checksum == "c" * 64


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ('{\n  "name": "team/web",\n  "versions": [\n}', r"^cat/team/web/metadata.json:4: not valid JSON"),
        ('{"name": "web", "versions": []}', r"\.name 'web' is not <team>/<box>"),
        ('{"name": "team/web"}', r"\.versions must be a list"),
        ('{"name": "team/web", "versions": [{"version": "1.0", "providers": []}]}', r"versions\[0\]\.version"),
        (
            '{"name": "team/web", "versions": [{"version": "1.0.0", "providers": '
            '[{"name": "docker", "url": "u", "checksum_type": "md5", "checksum": "x"}]}]}',
            r"versions\[0\]\.providers\[0\]\.checksum_type must be 'sha256'",
        ),
        (
            '{"name": "team/web", "versions": [{"version": "1.0.0", "providers": '
            '[{"name": "docker", "url": "u", "checksum_type": "sha256", "checksum": "x"}]}]}',
            r"checksum must be 64 lowercase hex digits",
        ),
    ],
)
def test_a_malformed_metadata_json_is_named_with_what_is_wrong(text, pattern):
    with pytest.raises(ConfigError, match=pattern):
        fmt.parse_metadata(text.encode(), "cat/team/web/metadata.json")


def test_a_docker_box_pins_its_image_and_is_reproducible():
    docker = providers.provider("docker")
    first, second = (fmt.box_archive(docker.box_files(IMAGE, "team/web 1.0.0")) for _ in range(2))
    assert first == second and fmt.sha256(first) == fmt.sha256(second)
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(first))) as tar:
        assert sorted(tar.getnames()) == ["Vagrantfile", "metadata.json"]
        assert json.loads(tar.extractfile("metadata.json").read()) == {"provider": "docker"}
        assert f'docker.image = "{IMAGE}"' in tar.extractfile("Vagrantfile").read().decode()


def test_urls_keep_credentials_apart():
    url = parse_url("http://alice:s%3Acret@127.0.0.1:8070/")
    assert url.base == "http://127.0.0.1:8070" and url.user == "alice" and url.password == "s:cret"
    assert parse_url("/tmp/x/../cat").base == "file:///tmp/cat"
    assert parse_url("file:///tmp/cat").base == "file:///tmp/cat"
    with pytest.raises(ConfigError, match="not an http"):
        parse_url("ftp://host/cat")


def test_an_atomic_write_that_fails_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "team" / "web" / "metadata.json"
    write_atomic(target, b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["metadata.json"]  # no temporary left


def _catalog_with_versions(root: Path, numbers: list[str], public: str = "") -> None:
    store = LocalStore(parse_url(str(root)))
    meta = fmt.BoxMetadata("team/web")
    for number in numbers:
        data = f"box {number}".encode()
        path = f"team/web/{number}/docker-{fmt.sha256(data)[:16]}.box"
        store.write(path, data)
        url = f"{public}/{path}" if public else store.location.url(path)
        meta = meta.with_version(fmt.Version(number, [provider(number, fmt.sha256(data), url)]))
    store.write("team/web/metadata.json", meta.to_bytes())
    store.write(fmt.INDEX, fmt.index_bytes(["team/web"]))


@pytest.mark.parametrize("public", ["", "https://boxes.example.com/team-catalog"])
def test_prune_keeps_the_newest_versions_and_removes_their_files_and_leftovers(tmp_path, public):
    """Also when the catalog was published for another host (--public-url): referenced files stay."""
    _catalog_with_versions(tmp_path, ["1.0.0", "1.0.1", "1.1.0", "2.0.0"], public)
    leftover = tmp_path / "team" / "web" / "2.0.1" / "docker-0123456789abcdef.box"  # an interrupted publish
    write_atomic(leftover, b"half")
    [report] = catalog.prune(parse_url(str(tmp_path)), keep=2)
    assert report.removed == ("1.0.1", "1.0.0") and report.kept == ("2.0.0", "1.1.0")
    left = sorted(str(p.relative_to(tmp_path)).split("/")[2] for p in tmp_path.rglob("*.box"))
    assert left == ["1.1.0", "2.0.0"]
    rows = catalog.rows(parse_url(str(tmp_path)))
    assert [r.version for r in rows] == ["2.0.0", "1.1.0"]


def test_prune_needs_to_keep_at_least_one(tmp_path):
    with pytest.raises(ConfigError, match="--keep must be at least 1"):
        catalog.prune(parse_url(str(tmp_path)), keep=0)


def test_a_missing_catalog_directory_is_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        catalog.rows(parse_url(str(tmp_path / "nope")))


def test_a_failed_publish_removes_what_it_uploaded_and_keeps_what_it_committed(tmp_path):
    store = LocalStore(parse_url(str(tmp_path)))
    with pytest.raises(KeyboardInterrupt), catalog._Uploads(store) as uploads:
        uploads.write_box("team/web", "team/web/1.0.0/docker-a.box", b"web")
        uploads.commit("team/web", fmt.BoxMetadata("team/web"))
        uploads.write_box("team/db", "team/db/1.0.0/docker-b.box", b"db")
        raise KeyboardInterrupt  # Ctrl-C between two boxes' metadata.json
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["team/web/1.0.0/docker-a.box", "team/web/metadata.json"]
    assert not (tmp_path / "team" / "db").exists()  # its emptied folders too
