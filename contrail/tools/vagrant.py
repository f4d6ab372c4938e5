"""Vagrant facts Contrail needs outside python-vagrant: where its public insecure key is."""

from __future__ import annotations

import glob

from contrail.errors import FIX_DEPS, ToolMissing

# Debian's vagrant package, then HashiCorp's own packaging.
_KEY_GLOBS = (
    "/usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub",
    "/opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub",
    "/opt/vagrant/embedded/gems/*/gems/vagrant-*/keys/vagrant.pub",
)


def insecure_public_key() -> str:
    """Vagrant's public insecure key, put in every box; Vagrant replaces it on a machine's first up."""
    for pattern in _KEY_GLOBS:
        for path in sorted(glob.glob(pattern)):
            with open(path, encoding="ascii") as handle:
                return handle.read().strip()
    raise ToolMissing("Vagrant's public insecure key (keys/vagrant.pub) was not found", FIX_DEPS)
