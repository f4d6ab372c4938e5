import pytest

from contrail.errors import ContrailError
from contrail.tools import apt_sources

DEB822 = """Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_deb822_skips_security(tmp_path):
    assert apt_sources.mirrors_deb822(DEB822) == ["http://mirror.example/debian"]


def test_one_line_format_with_options():
    text = "# deb http://old/ x main\ndeb [arch=amd64 signed-by=/k.gpg] http://m/debian/ bookworm main\n"
    assert apt_sources.mirrors_one_line(text) == ["http://m/debian/"]


def test_environment_variable_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTRAIL_APT_MIRROR", "http://explicit/debian/")
    assert apt_sources.host_mirror(tmp_path, tmp_path / "none.list") == "http://explicit/debian"


def test_reads_the_host_files(tmp_path, monkeypatch):
    monkeypatch.delenv("CONTRAIL_APT_MIRROR", raising=False)
    (tmp_path / "debian.sources").write_text(DEB822)
    assert apt_sources.host_mirror(tmp_path, tmp_path / "none.list") == "http://mirror.example/debian"


def test_no_mirror_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("CONTRAIL_APT_MIRROR", raising=False)
    with pytest.raises(ContrailError, match="CONTRAIL_APT_MIRROR"):
        apt_sources.host_mirror(tmp_path, tmp_path / "none.list")
