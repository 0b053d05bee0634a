"""Which addresses outbound HTTP (topic HTTP(S) subscriptions, bus HTTP targets) may reach.

A URL given to a topic or a bus must not become a way into the machine's cloud credentials:
link-local and cloud metadata addresses are refused unless allowed explicitly, as a
server-side request forgery guard:

* ``169.254.0.0/16`` (link-local IPv4, with AWS, GCP, Azure and Oracle metadata at
  ``169.254.169.254``), ``100.100.100.200`` (Alibaba Cloud's metadata),
* ``fe80::/10`` (link-local IPv6) and ``fd00:ec2::254`` (AWS's IPv6 metadata),
* the same IPv4 addresses written as IPv6: IPv4-mapped ``::ffff:169.254.169.254``,
  IPv4-compatible ``::169.254.169.254``, NAT64 ``64:ff9b::169.254.169.254``, and 6to4.

A literal address is refused when the subscription or target is made (a ConfigurationError);
a host name is resolved before each delivery, and a name that resolves to a refused address
fails that delivery without retry (to the failure path, with the reason). Loopback and
private networks stay allowed. ``Mesh(allow_http_hosts=[...])`` lets chosen hosts through:
host names (exact, case-insensitive), addresses or networks (``"169.254.10.0/24"``).

A name is resolved again by the HTTP client when it connects, so a DNS answer that changes
between the check and the connection (rebinding) is not caught; an allow-list or a proxy is
the defence there.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from eventmesh._errors import ConfigurationError
from eventmesh._redact import redact_url

__all__ = ["BLOCKED_NETWORKS", "EgressPolicy"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

BLOCKED_NETWORKS: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("100.100.100.200/32"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, compatible, NAT64 or 6to4)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _literal(host: str) -> IPAddress | None:
    """The address a host written as one means, in any form a resolver accepts
    (``169.254.169.254``, ``2852039166``, ``0xa9.0xfe.0xa9.0xfe``, ``[fd00:ec2::254]``)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


class EgressPolicy:
    """The outbound-address rule of one mesh; see the module docstring."""

    def __init__(self, allow_hosts: Iterable[str] = ()) -> None:
        if isinstance(allow_hosts, str) or not isinstance(allow_hosts, Iterable):
            raise ConfigurationError(
                "allow_http_hosts must be a list of host names, addresses or networks, "
                f"got {allow_hosts!r}"
            )
        self._hosts: set[str] = set()
        self._networks: list[IPNetwork] = []
        for entry in allow_hosts:
            if not isinstance(entry, str) or not entry:
                raise ConfigurationError(
                    f"allow_http_hosts entries are host names, addresses or networks, got {entry!r}"
                )
            try:
                self._networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self._hosts.add(entry.lower().rstrip("."))

    def _blocked(self, address: IPAddress) -> bool:
        if any(address in network for network in self._networks):
            return False
        if isinstance(address, ipaddress.IPv6Address):
            embedded = _embedded_ipv4(address)
            if embedded is not None and self._blocked(embedded):
                return True
        return any(address in network for network in BLOCKED_NETWORKS)

    def _host(self, url: str) -> str:
        try:
            return (urlsplit(url).hostname or "").lower().rstrip(".")
        except ValueError:
            return ""

    def _reason(self, url: str, address: IPAddress, host: str) -> str:
        shown = f"{host} ({address})" if host != str(address) else str(address)
        return (
            f"{redact_url(url)}: {shown} is a link-local or cloud metadata address, refused "
            "for outbound HTTP; list the host in Mesh(allow_http_hosts=[...]) to allow it"
        )

    def check_literal(self, url: str) -> None:
        """At configuration: a URL whose host is a refused address raises ConfigurationError."""
        host = self._host(url)
        if host in self._hosts:
            return
        address = _literal(host)
        if address is not None and self._blocked(address):
            raise ConfigurationError(self._reason(url, address, host))

    async def refusal(self, url: str) -> str | None:
        """Before a delivery: why ``url`` must not be called (its host resolves to a refused
        address), or None. A name that does not resolve is left to the HTTP client."""
        host = self._host(url)
        if host in self._hosts:
            return None
        address = _literal(host)
        if address is not None:
            return self._reason(url, address, host) if self._blocked(address) else None
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, proto=socket.IPPROTO_TCP
            )
        except (OSError, UnicodeError):
            return None  # the client reports the failure to connect, with its retries
        for info in infos:
            resolved = _literal(str(info[4][0]))
            if resolved is not None and self._blocked(resolved):
                return self._reason(url, resolved, host)
        return None
