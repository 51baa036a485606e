"""SSLyze JSON (``--json_out``): the 3.x layout and the 5.x/6.x layout.

SSLyze reports measurements, not findings; the parser turns the well-known
weaknesses into findings: Heartbleed, CCS injection, ROBOT, insecure or
client-initiated renegotiation, TLS compression (CRIME), missing fallback SCSV,
SSL 2.0/3.0 and TLS 1.0/1.1 accepted, and a certificate that does not validate
or does not match the host name. A server SSLyze could not reach is reported
as a host with status ``down`` and no findings.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any, ClassVar, NamedTuple

from services.ingest.parsers import _json
from services.ingest.parsers._assets import host_asset
from services.ingest.parsers.base import Parser
from services.ingest.parsers.model import FindingObserved, HostObserved, ServiceObserved, Severity

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from services.ingest.parsers.model import Asset, Item

__all__ = ("SslyzeJson",)


class _Check(NamedTuple):
    command: str
    title: str
    severity: Severity
    failed: Callable[[dict[str, Any]], bool]
    cve: tuple[str, ...] = ()


def _accepts(result: dict[str, Any]) -> bool:
    return bool(result.get("accepted_cipher_suites"))


def _untrusted(result: dict[str, Any]) -> bool:
    for deployment in result.get("certificate_deployments") or ():
        for validation in deployment.get("path_validation_results") or ():
            if validation.get("was_validation_successful") is False:
                return True
            if "was_validation_successful" not in validation and not validation.get(
                "verified_certificate_chain"
            ):
                return True
    return False


def _hostname_mismatch(result: dict[str, Any]) -> bool:
    deployments = result.get("certificate_deployments") or ()
    return any(d.get("leaf_certificate_subject_matches_hostname") is False for d in deployments)


_CHECKS = (
    _Check("heartbleed", "Vulnerable to Heartbleed", Severity.HIGH,
           lambda r: r.get("is_vulnerable_to_heartbleed") is True, ("CVE-2014-0160",)),
    _Check("openssl_ccs_injection", "Vulnerable to OpenSSL CCS injection", Severity.HIGH,
           lambda r: r.get("is_vulnerable_to_ccs_injection") is True, ("CVE-2014-0224",)),
    _Check("robot", "Vulnerable to ROBOT", Severity.HIGH,
           lambda r: str(r.get("robot_result", "")).startswith("VULNERABLE"), ("CVE-2017-13099",)),
    _Check("session_renegotiation", "Insecure TLS renegotiation supported", Severity.MEDIUM,
           lambda r: r.get("supports_secure_renegotiation") is False, ("CVE-2009-3555",)),
    _Check("session_renegotiation", "Client-initiated TLS renegotiation accepted (DoS)",
           Severity.LOW, lambda r: r.get("is_vulnerable_to_client_renegotiation_dos") is True
           or r.get("accepts_client_renegotiation") is True),
    _Check("tls_compression", "TLS compression enabled (CRIME)", Severity.MEDIUM,
           lambda r: r.get("supports_compression") is True, ("CVE-2012-4929",)),
    _Check("tls_fallback_scsv", "TLS_FALLBACK_SCSV not supported", Severity.LOW,
           lambda r: r.get("supports_fallback_scsv") is False),
    _Check("ssl_2_0_cipher_suites", "SSL 2.0 accepted", Severity.HIGH, _accepts),
    _Check("ssl_3_0_cipher_suites", "SSL 3.0 accepted (POODLE)", Severity.HIGH, _accepts,
           ("CVE-2014-3566",)),
    _Check("tls_1_0_cipher_suites", "Deprecated TLS 1.0 accepted", Severity.MEDIUM, _accepts),
    _Check("tls_1_1_cipher_suites", "Deprecated TLS 1.1 accepted", Severity.MEDIUM, _accepts),
    _Check("certificate_info", "Certificate not trusted", Severity.MEDIUM, _untrusted),
    _Check("certificate_info", "Certificate does not match the host name", Severity.MEDIUM,
           _hostname_mismatch),
)  # fmt: skip


def _results(server: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Command name -> result, unwrapping 5.x's ``{"status", "result"}`` envelopes."""
    raw = server.get("scan_result") or server.get("scan_commands_results") or {}
    results: dict[str, dict[str, Any]] = {}
    for command, value in raw.items() if isinstance(raw, dict) else ():
        if isinstance(value, dict) and "status" in value and "result" in value:
            value = value["result"]
        if isinstance(value, dict):
            results[command] = value
    return results


def _server_items(server: dict[str, Any]) -> Iterator[Item]:
    location = server.get("server_location") or (server.get("server_info") or {}).get(
        "server_location"
    )
    location = location if isinstance(location, dict) else {}
    asset: Asset | None = host_asset(location.get("ip_address"), location.get("hostname"))
    if asset is None:
        return
    port = int(location.get("port") or 443)
    if str(server.get("connectivity_status", "COMPLETED")).upper() == "ERROR":
        yield HostObserved(asset=asset, status="down")
        return
    yield HostObserved(asset=asset)
    yield ServiceObserved(asset=asset, port=port, name="tls")
    results = _results(server)
    for check in _CHECKS:
        result = results.get(check.command)
        if result is not None and check.failed(result):
            yield FindingObserved(
                asset=asset,
                scanner="sslyze",
                title=check.title,
                severity=check.severity,
                rule_id=f"{check.command}:{check.title}",
                port=port,
                protocol="tcp",
                cve=check.cve,
            )


class SslyzeJson(Parser):
    """SSLyze 3.x and 5.x/6.x JSON output."""

    format: ClassVar[str] = "sslyze-json"
    scanner: ClassVar[str] = "sslyze"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """An object with ``server_scan_results`` and an SSLyze-only sibling key."""
        parsed = _json.sniff_json(head)
        if parsed is None or parsed.root != "object" or not parsed.has("server_scan_results"):
            return False
        return any(
            parsed.has(key)
            for key in (
                "server_connectivity_errors",
                "invalid_server_strings",
                "date_scans_started",
                "sslyze_version",
                "server_scan_results.item.server_location",
                "server_scan_results.item.scan_commands",
            )
        )

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield each server as a host with its TLS service and derived findings."""
        _json.require_content(stream)
        with _json.json_errors(stream, "SSLyze report"):
            for _, _, value in _json.select(
                stream, ("server_scan_results.item",), big_integers=True
            ):
                yield from _server_items(_json.mapping(value, "an SSLyze server result"))
