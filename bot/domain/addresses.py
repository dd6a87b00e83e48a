"""Which IP addresses count as public: the rule behind result downloads and the webhook URL."""

from __future__ import annotations

import ipaddress

# IPv6 ranges whose last 32 bits are an IPv4 address the packet ends up at.
_CARRIES_IPV4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64, well-known prefix
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT)
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated)
)
# Never a CDN: tunnels and local-use ranges whose destination we cannot judge.
_NEVER_PUBLIC = (
    ipaddress.IPv6Network("2001::/32"),  # Teredo
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # NAT64, local-use prefix
    ipaddress.IPv6Network("fec0::/10"),  # site-local (deprecated)
)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4, ...), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _CARRIES_IPV4):
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def is_public(address: str) -> bool:
    """Whether an IP address is a public unicast one. An IPv6 address that carries an
    IPv4 one is judged by that IPv4 address; Teredo and local-use ranges never pass."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _NEVER_PUBLIC):
            return False
        ip = embedded_ipv4(ip) or ip
    return ip.is_global and not ip.is_multicast
