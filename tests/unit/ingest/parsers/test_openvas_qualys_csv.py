import pytest

from services.ingest.parsers import registry
from services.ingest.parsers.errors import ScanRejected
from services.ingest.parsers.model import Severity
from services.ingest.parsers.openvas_csv import OpenvasCsv
from services.ingest.parsers.qualys_csv import QualysCsv

from .text_support import findings

OPENVAS = (
    "IP,Hostname,Port,Port Protocol,CVSS,Severity,NVT Name,Summary,Specific Result,NV"
    "T OID,CVEs,Solution\n"
    '192.168.118.212,LOGSRV,,,2.6,Low,"TCP timestamps","The remote host implements\n '
    ' TCP timestamps.","detected",1.3.6.1.4.1.25623.1.0.80091,,"Disable"\n'
    '192.168.118.212,LOGSRV,22,tcp,5.0,Medium,SSH weak,s,r,1.3.6.1.4.1.25623.1.0.1,"C'
    'VE-2020-1001,CVE-2020-1002",x\n'
)
QUALYS = (
    '"IP","DNS","OS","QID","Title","Severity","Port","Protocol","CVE ID","CVSS3 Base"'
    ',"Threat","Solution"\n'
    '"10.98.57.180","ip-10-98-57-180.internal","Windows","105971","EOL ASP.NET","5","'
    '","","","8.1 (AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H)","t","s"\n'
)


def test_openvas_csv_rows():
    assert registry.detect_format(OPENVAS.encode()) is OpenvasCsv
    timestamps, ssh = findings(OpenvasCsv, OPENVAS)
    assert timestamps.asset.key == "192.168.118.212"
    assert timestamps.asset.hostnames == ("logsrv",)
    assert (timestamps.port, timestamps.severity) == (None, Severity.LOW)
    assert (ssh.port, ssh.protocol, ssh.cve) == (22, "tcp", ("CVE-2020-1001", "CVE-2020-1002"))
    assert ssh.rule_id == "1.3.6.1.4.1.25623.1.0.1"


def test_qualys_csv_rows():
    assert registry.detect_format(QUALYS.encode()) is QualysCsv
    (finding,) = findings(QualysCsv, QUALYS)
    assert finding.severity is Severity.CRITICAL
    assert finding.asset.os == "Windows"
    assert finding.cvss_score == 8.1
    assert finding.cvss_vector == "AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"


def test_wrong_columns_are_rejected():
    with pytest.raises(ScanRejected, match="lacks the expected columns"):
        findings(QualysCsv, OPENVAS)
    with pytest.raises(ScanRejected, match="lacks the expected columns"):
        findings(OpenvasCsv, QUALYS)
