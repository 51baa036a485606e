"""Random histories with every kind of asset and finding event, odd cases included.

`history.py` writes what a scanner does, round after round; this writes what
any sequence of events may hold, so that a fold can be held to the live
projections: analyst status changes, services that change, scopes and second
scanners, text with NUL characters, events about findings and assets that
were never detected, and detections of what is known already.
"""

from __future__ import annotations

import datetime as dt
import random

from shared.contracts import (
    Event,
    FindingClosed,
    FindingDetails,
    FindingDetected,
    FindingObserved,
    FindingReopened,
    FindingStatus,
    FindingStatusChanged,
    HostChanged,
    HostDetected,
    ServiceChanged,
    ServiceDetected,
    asset_stream,
    finding_stream,
)
from shared.eventstore import StreamWrite

_T0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
_SEVERITIES = ("info", "low", "medium", "high", "critical")


class VariedHistory:
    """Appends for one workspace, drawn from `seed`: a few assets, a few dozen findings."""

    def __init__(self, workspace: str, seed: int, *, assets: int = 4, findings: int = 30) -> None:
        self.workspace = workspace
        self._rng = random.Random(seed)
        self._assets = [f"{workspace}-a{n}" for n in range(assets)]
        self._findings = [f"{workspace}-f{n}" for n in range(findings)]
        self._at = _T0

    def appends(self, count: int, size: int = 12) -> list[list[StreamWrite]]:
        """`count` appends of about `size` events each."""
        return [[self._write(self._event()) for _ in range(size)] for _ in range(count)]

    def _write(self, event: Event) -> StreamWrite:
        key = getattr(event, "fingerprint", None)
        stream = finding_stream(key) if key else asset_stream(getattr(event, "asset_id", ""))
        return StreamWrite(stream_id=stream, workspace_id=self.workspace, events=[event])

    def _event(self) -> Event:
        self._at += dt.timedelta(minutes=self._rng.randint(1, 600))
        kind = self._rng.choices(("host", "service", "finding"), weights=(2, 2, 8), k=1)[0]
        if kind == "host":
            return self._host()
        if kind == "service":
            return self._service()
        return self._finding()

    def _text(self, stem: str) -> str:
        text = f"{stem} {self._rng.choice(('alpha', 'beta', 'gamma'))} {self._rng.randint(0, 3)}"
        return text + "\x00tail" if self._rng.random() < 0.05 else text

    def _host(self) -> Event:
        asset = self._rng.choice(self._assets)
        common = {"workspace_id": self.workspace, "asset_id": asset, "scan_id": self._scan()}
        details = {
            "address": self._rng.choice((None, f"10.1.0.{len(asset)}")),
            "hostnames": tuple(self._rng.sample(("a.example", "b.example", "c"), k=2)),
            "os": self._rng.choice((None, "linux", "windows")),
        }
        if self._rng.random() < 0.4:
            return HostDetected(**common, kind="host", key=asset, first_seen=self._at, **details)
        return HostChanged(**common, seen_at=self._at, **details)

    def _service(self) -> Event:
        common = {
            "workspace_id": self.workspace,
            "asset_id": self._rng.choice(self._assets),
            "port": self._rng.choice((22, 443)),
            "protocol": self._rng.choice(("tcp", "udp")),
            "scan_id": self._scan(),
            "state": self._rng.choice(("open", "filtered")),
            "name": self._rng.choice((None, "ssh", "https")),
            "version": self._rng.choice((None, "1.0", "2.0")),
        }
        if self._rng.random() < 0.4:
            return ServiceDetected(**common, first_seen=self._at)
        return ServiceChanged(**common, seen_at=self._at)

    def _scan(self) -> str:
        return f"{self.workspace}-scan-{self._rng.randint(0, 5)}"

    def _details(self, n: int) -> FindingDetails:
        return FindingDetails(
            title=self._text(f"Issue {n}"),
            severity=self._rng.choice(_SEVERITIES),
            rule_id=f"rule-{n}",
            description=self._rng.choice((None, self._text("Described"))),
            references=tuple(self._rng.sample(("https://a", "https://b", "x"), k=2)),
            cve=tuple(self._rng.sample(("CVE-2024-1", "CVE-2024-2", "CVE-2023-9"), k=2)),
            cwe=self._rng.choice(((), ("CWE-79",))),
            cvss_score=self._rng.choice((None, 5.5, 9.8)),
        )

    def _finding(self) -> Event:
        n = self._rng.randrange(len(self._findings))
        ids = {"workspace_id": self.workspace, "fingerprint": self._findings[n]}
        seen = {
            "scanner": self._rng.choice(("nmap", "nessus")),
            "scan_id": self._scan(),
            "scan_sha256": f"sha-{self._rng.randint(0, 9)}",
        }
        scope = self._rng.choice((None, None, "", "dmz", "lan"))
        roll = self._rng.random()
        if roll < 0.3:
            asset = self._rng.choice(self._assets)
            port = self._rng.choice((None, 22, 443))
            return FindingDetected(
                **ids, **seen, asset_id=asset, asset_kind="host", asset_key=asset,
                first_seen=self._at, details=self._details(n), port=port,
                protocol=self._rng.choice(("tcp", "UDP", None)) if port else None, scope=scope,
            )  # fmt: skip
        if roll < 0.6:
            return FindingObserved(
                **ids, **seen, seen_at=self._at, details=self._details(n), scope=scope
            )
        if roll < 0.75:
            return FindingClosed(
                **ids, scanner=seen["scanner"], scan_id=seen["scan_id"], closed_at=self._at
            )
        if roll < 0.85:
            return FindingReopened(
                **ids, **seen, seen_at=self._at, details=self._details(n), scope=scope
            )
        status = self._rng.choice(list(FindingStatus))
        return FindingStatusChanged(
            **ids, status=status, previous_status=FindingStatus.OPEN, changed_at=self._at,
            comment=self._text("because"), actor=self._rng.choice((None, "analyst@example")),
        )  # fmt: skip
