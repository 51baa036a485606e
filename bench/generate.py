# ruff: noqa: E501  (XML templates read best on one line)
"""Large, realistic scanner files generated on the fly for the import benchmarks."""

from __future__ import annotations

import random
from pathlib import Path
from xml.sax.saxutils import escape

_WORDS = [
    "remote",
    "host",
    "service",
    "version",
    "vulnerable",
    "allows",
    "attackers",
    "execute",
    "arbitrary",
    "code",
    "crafted",
    "request",
    "buffer",
    "overflow",
    "authentication",
    "bypass",
    "denial",
    "information",
    "disclosure",
    "upgrade",
    "patch",
    "vendor",
    "advisory",
    "affected",
    "configuration",
    "protocol",
    "server",
    "client",
]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def nessus(path: Path, hosts: int, items_per_host: int, text_words: int = 300) -> int:
    """A .nessus v2 file; returns the number of ReportItems written.

    As in real Nessus output, a plugin's description, solution and synopsis
    are the same on every host it reports; its output differs from item to item.
    """
    rng = random.Random(7)
    plugins = [
        (
            10000 + p,
            f"Plugin {p}: {_text(rng, 6)}",
            rng.randint(0, 4),
            f"CVE-20{rng.randint(10, 24)}-{rng.randint(1000, 99999)}",
            f"<description>{_text(rng, text_words)}</description>"
            f"<solution>{_text(rng, 20)}</solution><synopsis>{_text(rng, 12)}</synopsis>",
        )
        for p in range(items_per_host * 3)
    ]
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" ?>\n<NessusClientData_v2>\n<Report name="bench">\n')
        for h in range(hosts):
            address = f"10.{h // 65536 % 256}.{h // 256 % 256}.{h % 256}"
            out.write(
                f'<ReportHost name="{address}"><HostProperties>'
                f'<tag name="host-ip">{address}</tag><tag name="host-fqdn">host{h}.example.test</tag>'
                f'<tag name="operating-system">Linux Kernel 5.{h % 20}</tag></HostProperties>\n'
            )
            for plugin_id, name, severity, cve, texts in rng.sample(plugins, items_per_host):
                port = rng.choice((22, 80, 443, 3306, 5432, 8080))
                out.write(
                    f'<ReportItem port="{port}" svc_name="www" protocol="tcp" severity="{severity}" '
                    f'pluginID="{plugin_id}" pluginName="{escape(name)}" pluginFamily="General">'
                    f"{texts}<cve>{cve}</cve><cvss3_base_score>{severity * 2.3:.1f}</cvss3_base_score>"
                    f"<cvss3_vector>CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H</cvss3_vector>"
                    f"<see_also>https://example.test/advisory/{plugin_id}</see_also>"
                    f"<plugin_output>{_text(rng, text_words // 3)}</plugin_output>"
                    "</ReportItem>\n"
                )
                count += 1
            out.write("</ReportHost>\n")
        out.write("</Report>\n</NessusClientData_v2>\n")
    return count


def nmap(path: Path, hosts: int, ports_per_host: int = 3) -> int:
    """An nmap XML file with `hosts` hosts up; returns the number of open ports written."""
    rng = random.Random(11)
    services = (
        ("ssh", "OpenSSH", "8.9p1"),
        ("http", "nginx", "1.24.0"),
        ("https", "Apache httpd", "2.4.58"),
        ("mysql", "MySQL", "8.0.35"),
        ("postgresql", "PostgreSQL DB", "15.4"),
    )
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n<nmaprun scanner="nmap" args="nmap -sV" start="1700000000" version="7.94">\n'
        )
        for h in range(hosts):
            address = f"10.{h // 65536 % 256}.{h // 256 % 256}.{h % 256}"
            out.write(
                f'<host starttime="1700000000" endtime="1700000100"><status state="up" reason="syn-ack"/>'
                f'<address addr="{address}" addrtype="ipv4"/><hostnames><hostname name="n{h}.example.test" type="PTR"/></hostnames><ports>'
            )
            for port in sorted(rng.sample(range(20, 10000), ports_per_host)):
                name, product, version = rng.choice(services)
                out.write(
                    f'<port protocol="tcp" portid="{port}"><state state="open" reason="syn-ack"/>'
                    f'<service name="{name}" product="{product}" version="{version}" method="probed" conf="10"/></port>'
                )
                count += 1
            out.write("</ports></host>\n")
        out.write(
            f'<runstats><finished time="1700000200"/><hosts up="{hosts}" down="0" total="{hosts}"/>'
            "</runstats></nmaprun>\n"
        )
    return count
