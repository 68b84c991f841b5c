"""Which address a request comes from, and whether an address is on a whitelist.

The socket peer is the client, unless the peer is a trusted proxy: then the client is the
right-most X-Forwarded-For entry that is not itself a trusted proxy. Entries left of
that were written by the client and prove nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


def parse_address(text: str) -> IPAddress | None:
    """An address as peers and proxies write it: plain, "[v6]:port" or "v4:port"."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d.
        return address.ipv4_mapped
    return address


def _is_trusted(address: IPAddress, proxies: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in proxies)


def resolve_client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted_proxies: Sequence[IPNetwork]
) -> str | None:
    """The client's address as text; None when the server does not know the peer."""
    if peer is None:
        return None
    peer_address = parse_address(peer)
    if peer_address is None or not _is_trusted(peer_address, trusted_proxies):
        return str(peer_address) if peer_address is not None else peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        hop_address = parse_address(hop)
        if hop_address is None:
            # Garbage where a proxy should have written an address: nothing to trust past it.
            return hop
        if not _is_trusted(hop_address, trusted_proxies):
            return str(hop_address)
    # Every hop is a trusted proxy: the left-most one is as close to the client as we know.
    return str(parse_address(hops[0])) if hops else str(peer_address)


def is_whitelisted(address: str | None, entries: Iterable[str]) -> bool:
    """Whether `address` falls within one of the (normalized) whitelist entries."""
    parsed = _parsed_address(address) if address is not None else None
    if parsed is None:
        return False
    return any(parsed in _network(entry) for entry in entries)


# Parsed once per distinct string: every signed request checks its key's whitelist, and
# parsing addresses is most of that check's cost.
@lru_cache(maxsize=4096)
def _parsed_address(address: str) -> IPAddress | None:
    return parse_address(address)


@lru_cache(maxsize=4096)
def _network(entry: str) -> IPv4Network | IPv6Network:
    return ip_network(entry, strict=False)
