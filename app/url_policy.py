"""Where webhooks may go: the engine must not be aimed at its own network's insides (SSRF).

A webhook or summarization URL is checked when it is registered and again on every call, against
WEBHOOK_ALLOWED_NETWORKS (CIDRs). Every address a host name resolves to must be allowed. Link-local
ranges (cloud metadata endpoints such as 169.254.169.254) are refused whatever the setting says.

Residual risk (documented in docs/operations.md): the check resolves the name, then requests resolves
it again to connect, so a DNS server that answers differently within that window (DNS rebinding)
could slip an address past the check. Pin backends by IP address, or resolve through a DNS server
you control, where that matters.
"""
import functools
import ipaddress
import socket
from urllib.parse import urlsplit

# Loopback and the private ranges: backends next to the engine. Public backends need an explicit setting.
DEFAULT_ALLOWED_NETWORKS = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
ALWAYS_REFUSED = tuple(ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fe80::/10", "0.0.0.0/8", "::/128"))


class UrlNotAllowed(ValueError):
    pass


@functools.lru_cache(maxsize=16)
def parse_networks(cidrs):
    """CIDRs (a tuple of strings) → networks; a malformed one stops the start (ValueError)."""
    try:
        return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)
    except ValueError as exc:
        raise ValueError(f"WEBHOOK_ALLOWED_NETWORKS: {exc}") from None


def _address(text):
    address = ipaddress.ip_address(text.split("%", 1)[0])
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:169.254.169.254 is 169.254.169.254
    return mapped or address


def check_address(address, networks):
    address = _address(str(address))
    if any(address in network for network in ALWAYS_REFUSED):
        raise UrlNotAllowed(f"{address} is link-local or unspecified, always refused")
    if not any(address.version == network.version and address in network for network in networks):
        raise UrlNotAllowed(f"{address} is outside WEBHOOK_ALLOWED_NETWORKS")


def _host(url):
    split = urlsplit(url)
    if split.scheme not in ("http", "https") or not split.hostname:
        raise UrlNotAllowed("must be an http(s) URL with a host")
    if split.username is not None or split.password is not None:
        raise UrlNotAllowed("must not carry credentials")
    return split.hostname


def _literal(host):
    try:
        return _address(host)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1024)
def _allowed_literal(url, networks):
    """True for a URL whose host is an allowed IP address: no DNS is involved, so the verdict never
    changes and is worked out once per URL. False for a host name; raises for a refused address
    (never cached, so refusals stay rare and cost what they cost)."""
    literal = _literal(_host(url))
    if literal is None:
        return False
    check_address(literal, networks)
    return True


def _resolve(host):
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return {info[4][0] for info in infos}


def check_registration(url, cidrs):
    """Raises UrlNotAllowed. A name that does not resolve yet (a backend deployed after its registration)
    passes here; the call-time check still applies to it."""
    _check(url, cidrs, must_resolve=False)


def check_call(url, cidrs):
    """Raises UrlNotAllowed unless every address the URL's host resolves to now is allowed."""
    _check(url, cidrs, must_resolve=True)


def _check(url, cidrs, must_resolve):
    networks = parse_networks(tuple(cidrs))
    if _allowed_literal(url, networks):
        return
    host = _host(url)
    try:
        addresses = _resolve(host)
    except OSError as exc:
        if not must_resolve:
            return
        raise UrlNotAllowed(f"cannot resolve {host} ({type(exc).__name__})") from None
    for address in addresses:
        check_address(address, networks)
