"""HAProxy's stats CSV (`/;csv` on the stats page) → frozen records. Pure; tested on real output."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerStat:
    proxy: str
    server: str
    status: str  # UP, DOWN, MAINT, DRAIN, "UP 1/2", no check...
    current_sessions: int
    total_sessions: int
    responses_5xx: int
    check_status: str
    rate: int  # sessions per second, over the last second

    @property
    def up(self) -> bool:
        return self.status.startswith("UP")

    @property
    def in_rotation(self) -> bool:
        """Settled: UP with no failed check pending, or taken out on purpose (MAINT, DRAIN)."""
        return self.status == "UP" or self.status.startswith(("MAINT", "DRAIN"))


def parse(text: str) -> list[ServerStat]:
    """Server rows (not FRONTEND/BACKEND aggregates) of a stats CSV."""
    lines = text.lstrip("# ").splitlines()
    rows = csv.DictReader(io.StringIO("\n".join(lines)))
    return [
        ServerStat(
            proxy=row["pxname"],
            server=row["svname"],
            status=row["status"],
            current_sessions=_int(row.get("scur")),
            total_sessions=_int(row.get("stot")),
            responses_5xx=_int(row.get("hrsp_5xx")),
            check_status=row.get("check_status", ""),
            rate=_int(row.get("rate")),
        )
        for row in rows
        if row.get("svname") not in ("FRONTEND", "BACKEND")
    ]


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0
