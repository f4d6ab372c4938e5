"""The host's Debian mirror, read from its apt sources (never written into the repository)."""

from __future__ import annotations

import os
from pathlib import Path

from contrail.errors import ContrailError

SOURCES_DIR = Path("/etc/apt/sources.list.d")
SOURCES_LIST = Path("/etc/apt/sources.list")


def host_mirror(sources_dir: Path = SOURCES_DIR, sources_list: Path = SOURCES_LIST) -> str:
    """CONTRAIL_APT_MIRROR, else the first Debian archive URI in the host's apt sources."""
    explicit = os.environ.get("CONTRAIL_APT_MIRROR")
    if explicit:
        return explicit.rstrip("/")
    texts = [(p, "deb822") for p in sorted(sources_dir.glob("*.sources"))]
    texts += [(sources_list, "one-line")]
    texts += [(p, "one-line") for p in sorted(sources_dir.glob("*.list"))]
    for path, kind in texts:
        if not path.is_file():
            continue
        parse = mirrors_deb822 if kind == "deb822" else mirrors_one_line
        for uri in parse(path.read_text()):
            return uri.rstrip("/")
    raise ContrailError(
        "no Debian mirror found in the host's apt sources",
        "set CONTRAIL_APT_MIRROR to a Debian mirror URL (e.g. http://<mirror>/debian)",
    )


def mirrors_deb822(text: str) -> list[str]:
    """Archive URIs (not security, not source-only) of deb822 stanzas, in order."""
    found = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line and not line.startswith(("#", " ", "\t")) and ":" in line:
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
        suites = fields.get("suites", "").split()
        if "deb" in fields.get("types", "").split() and suites and not any("security" in s for s in suites):
            found += [u for u in fields.get("uris", "").split() if u.startswith(("http://", "https://", "file:"))]
    return found


def mirrors_one_line(text: str) -> list[str]:
    """Archive URIs of `deb [options] URI suite components` lines, in order."""
    found = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        rest = line[4:].strip()
        if rest.startswith("["):
            rest = rest.split("]", 1)[1]
        words = rest.split()
        if len(words) >= 2 and "security" not in words[1]:
            found.append(words[0])
    return found
