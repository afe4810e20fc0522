"""The address policy: which URLs we call and which resolved addresses we connect to.

A URL must be http(s) with a host. The address a name resolves to is judged when the connection is
made (`transport.py` calls `judge_address` for every address it is about to connect to), so a name
that resolved to a public address when the URL was saved and to 127.0.0.1 now (DNS rebinding) is
refused at connect. Refused: loopback, unspecified, link-local (169.254.169.254, the cloud metadata
service, among them), multicast, shared address space (CGNAT 100.64.0.0/10), private (RFC 1918,
ULA), reserved, IPv4/IPv6 translation prefixes (6to4, NAT64, which can embed any of the former),
and anything else not globally routable; an IPv4-mapped IPv6 address is judged as its IPv4 address.

`OUTBOUND_ALLOWED_NETWORKS` lists the exceptions, comma-separated: CIDR networks (`10.20.0.0/16`,
`::1/128`; any port) and `address:port` pairs (`10.0.0.5:8443`, `[::1]:9000`). Entries are
addresses, never names: a name could be re-pointed at anything, which is the attack itself.

`allowed_addresses(host, port, timeout=...)` is the same connect-time judgement for transports that
open their own connections (SFTP in `partners/adapters/sftp.py`): it resolves the name once and
returns only the addresses that pass; the caller connects to one of those, never to the name.

`check_url` is the save-time check (a 400 for the caller): scheme, host, `localhost` names, a literal
address, and the addresses the name resolves to now. A name that does not resolve at save time is
accepted (partners' DNS may not be visible from where ops edit); the connect-time check still holds.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from scm.outbound.exceptions import AddressRefused, CallFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = ("http", "https")
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_RFC1918_AND_ULA = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
# Prefixes that carry an IPv4 address inside an IPv6 one (or relay to one): a gateway would forward
# them to whatever the embedded address is, so they are refused as a whole.
_TRANSLATION = tuple(
    ipaddress.ip_network(n)
    for n in ("2002::/16", "64:ff9b::/96", "64:ff9b:1::/48", "192.88.99.0/24", "2001::/32")
)
_LOCALHOST_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def refusal_reason(address: IPAddress) -> str | None:
    """Why `address` may not be called, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        reason = refusal_reason(address.ipv4_mapped)
        return f"IPv4-mapped {reason}" if reason else None
    checks: tuple[tuple[bool, str], ...] = (
        (address.is_loopback, "loopback"),
        (address.is_unspecified, "unspecified"),
        (address in METADATA_ADDRESSES, "link-local (cloud metadata service)"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address in _CGNAT, "shared address space (CGNAT)"),
        (any(address in net for net in _RFC1918_AND_ULA), "private (RFC 1918 / ULA)"),
        (any(address in net for net in _TRANSLATION), "an IPv4/IPv6 translation prefix"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "not globally routable"),
    )
    return next((reason for matched, reason in checks if matched), None)


# --- The allow-list -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AllowList:
    networks: tuple[IPNetwork, ...] = ()
    endpoints: frozenset[tuple[IPAddress, int]] = frozenset()

    def allows(self, address: IPAddress, port: int) -> bool:
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(
            (candidate, port) in self.endpoints
            or any(candidate.version == net.version and candidate in net for net in self.networks)
            for candidate in candidates
        )


def _parse_entry(entry: str) -> tuple[IPNetwork | None, tuple[IPAddress, int] | None]:
    try:
        if "/" in entry:
            return ipaddress.ip_network(entry, strict=False), None
        if entry.startswith("["):
            host, _, port = entry[1:].partition("]:")
            return None, (ipaddress.IPv6Address(host), int(port))
        if entry.count(":") == 1:
            host, port = entry.split(":")
            return None, (ipaddress.IPv4Address(host), int(port))
        address = ipaddress.ip_address(entry)
        return ipaddress.ip_network(address), None
    except ValueError:
        raise ImproperlyConfigured(
            f"OUTBOUND_ALLOWED_NETWORKS entry {entry!r} is not a CIDR network, an address, or address:port "
            "(IPv6 as [addr]:port); names are not accepted"
        ) from None


@lru_cache(maxsize=8)
def parse_allow_list(entries: tuple[str, ...]) -> AllowList:
    networks, endpoints = [], set()
    for entry in entries:
        network, endpoint = _parse_entry(entry.strip())
        if network is not None:
            networks.append(network)
        if endpoint is not None:
            endpoints.add(endpoint)
    return AllowList(tuple(networks), frozenset(endpoints))


def allow_list() -> AllowList:
    value = getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", ())
    if isinstance(value, str):
        value = value.split(",")
    return parse_allow_list(tuple(entry.strip() for entry in value if entry.strip()))


def judge_address(address: IPAddress, port: int, *, host: str, what: str = "") -> None:
    """Raise AddressRefused unless `address` is public or allow-listed. `host` (and `what`, the
    thing being saved) name it in the message."""
    reason = refusal_reason(address)
    if reason is None or allow_list().allows(address, port):
        return
    shown = address if address.version == 4 else f"[{address}]"
    named = "" if host.strip("[]") == str(address) else f"{host} resolves to "
    subject = f"The {what} is refused" if what else "Refused"
    raise AddressRefused(
        f"{subject} by the outbound policy: {named}{shown}:{port}, a {reason} address "
        "(allow it explicitly in OUTBOUND_ALLOWED_NETWORKS if this partner is on a private network).",
        host=host,
        address=str(address),
        port=port,
        reason=reason,
    )


# --- Name resolution ----------------------------------------------------------------------------

Resolver = Callable[[str, int], list[IPAddress]]


# Special-use names that never exist (RFC 2606, RFC 6761): answered here, without asking DNS, so a demo
# partner like erp.partner.invalid costs no query leaving the machine.
NEVER_RESOLVED = ("invalid", "test", "example")


def system_resolve(host: str, port: int) -> list[IPAddress]:
    if host.rstrip(".").rsplit(".", 1)[-1].lower() in NEVER_RESOLVED:
        raise OSError(f"{host} is a special-use name that never resolves")
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


# Tests replace this to emulate names that public DNS would answer (there is none here).
resolver: Resolver = system_resolve
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0


def _resolving() -> ThreadPoolExecutor:
    """The lookup threads of this process (made again after a fork: threads do not survive one)."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        _pool, _pool_pid = ThreadPoolExecutor(max_workers=8, thread_name_prefix="outbound-dns"), os.getpid()
    return _pool


def resolve(host: str, port: int, *, timeout: float) -> list[IPAddress]:
    """The addresses of `host`, within `timeout` seconds (getaddrinfo itself cannot be interrupted,
    so it runs on a small pool and we stop waiting for it). Raises CallFailed."""
    literal = _literal_address(host)
    if literal is not None:
        return [literal]
    future = _resolving().submit(resolver, host, port)
    try:
        addresses = future.result(timeout=max(timeout, 0.001))
    except FutureTimeout:
        raise CallFailed(f"resolving {host} took longer than {timeout:.1f}s", host=host) from None
    except (OSError, UnicodeError) as exc:
        raise CallFailed(f"cannot resolve {host}: {exc}", host=host) from None
    if not addresses:
        raise CallFailed(f"{host} resolves to no address", host=host)
    return addresses


def allowed_addresses(host: str, port: int, *, timeout: float) -> list[IPAddress]:
    """The addresses of `host` that we may connect to on `port`, for a transport that opens its own
    connections (SFTP): resolved once within `timeout`, each judged by `judge_address`. Connect only
    to one of these, never to the name (a second lookup is what DNS rebinding would answer).

    Raises CallFailed (not resolved in time, or no address) or AddressRefused (the first refusal,
    when every address is refused). Public: a small addition for `partners` SFTP (not used by the
    HTTP transport, which judges inside its connection class)."""
    refusal: AddressRefused | None = None
    allowed = []
    for address in resolve(host, port, timeout=timeout):
        try:
            judge_address(address, port, host=host)
        except AddressRefused as exc:
            refusal = refusal or exc
            continue
        allowed.append(address)
    if not allowed:
        raise refusal or CallFailed(f"{host} resolves to no address", host=host)
    return allowed


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


# --- Save-time checks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int


def require_http_url(url: str, *, what: str = "URL") -> Target:
    """The scheme, host and port of an http(s) URL; AddressRefused for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused(f"The {what} {url!r} is not a valid URL: {exc}.", url=url) from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise AddressRefused(
            f"The {what} must use http or https, not {scheme or 'no scheme'!r}.", url=url, scheme=scheme
        )
    if not parts.hostname:
        raise AddressRefused(f"The {what} {url!r} has no host.", url=url)
    return Target(scheme, parts.hostname, port or (443 if scheme == "https" else 80))


def check_url(url: str, *, what: str | None = "URL", resolve_names: bool = True, timeout: float = 2.0) -> None:
    """Raise AddressRefused (400) unless `url` is one the policy lets us call, as far as can be
    told now. The connect-time check is the one that counts; this one answers the person saving it.
    `what` names the setting or field in the message; None words it as a refused call."""
    target = require_http_url(url, what=what or "URL")
    host = target.host.rstrip(".").lower()
    literal = _literal_address(host)
    if literal is not None:
        _judge_all([literal], target, what)
        return
    if host in _LOCALHOST_NAMES or host.endswith(".localhost"):
        _judge_all([ipaddress.ip_address("127.0.0.1")], target, what)
        return
    if not resolve_names:
        return
    try:
        addresses = resolve(host, target.port, timeout=timeout)
    except CallFailed:
        return  # not resolvable from here now; the connect-time check decides when we call
    _judge_all(addresses, target, what)


def _judge_all(addresses: Iterable[IPAddress], target: Target, what: str | None) -> None:
    for address in addresses:
        judge_address(address, target.port, host=target.host, what=what or "")


def is_http_url(url: str) -> bool:
    """Whether `url` is an http(s) URL with a host (for links we hand out, not calls we make)."""
    try:
        require_http_url(url)
    except AddressRefused:
        return False
    return True
