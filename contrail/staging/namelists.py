"""The name and address lists fakes are drawn from and names are recognised by, frozen in the project
(contrail/data/fakes-v1.json, taken once from Faker's en_US data, MIT licence) so that no upgrade of a
library changes a fake."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

FAKE_DATA = Path(__file__).with_name("data") / "fakes-v1.json"


@cache
def lists() -> dict[str, list[str]]:
    return {key: value for key, value in json.loads(FAKE_DATA.read_text()).items() if isinstance(value, list)}
