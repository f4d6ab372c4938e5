"""Dependencies the app box's Python needs that pip, evaluating markers with the host's Python, skips."""

from __future__ import annotations

import zipfile
from pathlib import Path

from contrail.deploy import wheelhouse


def wheel(directory: Path, name: str, requires: list[str]) -> None:
    with zipfile.ZipFile(directory / f"{name}-1.0-py3-none-any.whl", "w") as archive:
        lines = [f"Name: {name}", "Version: 1.0", *(f"Requires-Dist: {r}" for r in requires)]
        archive.writestr(f"{name}-1.0.dist-info/METADATA", "\n".join(lines) + "\n")


def test_a_marker_true_only_on_the_target_python_is_found(tmp_path):
    wheel(
        tmp_path,
        "redis",
        [
            'async-timeout>=4.0.3; python_full_version < "3.11.3"',  # the app box runs 3.11.2
            'importlib-metadata; python_version < "3.8"',
            "typing_extensions",
            'hiredis>=3; extra == "hiredis"',
        ],
    )
    wheel(tmp_path, "typing_extensions", [])
    assert wheelhouse.target_only_requirements(tmp_path) == ["async-timeout>=4.0.3"]
    wheel(tmp_path, "async_timeout", [])
    assert wheelhouse.target_only_requirements(tmp_path) == []
