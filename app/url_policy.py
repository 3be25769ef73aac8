"""Where webhooks may go: the engine must not be aimed at its own network's insides (SSRF).

A webhook or summarization URL is checked when it is registered and again on every call, against
WEBHOOK_ALLOWED_NETWORKS (CIDRs). Every address a host name resolves to must be allowed. Link-local and
unspecified ranges and the cloud metadata endpoints (169.254.169.254, AWS's fd00:ec2::/32, 100.100.100.200,
168.63.129.16) are refused whatever the setting says. An IPv6 address that carries an IPv4 address (IPv4-
mapped, -translated and -compatible, NAT64, 6to4, Teredo) is judged as the IPv4 it carries, so
[64:ff9b::a9fe:a9fe] is 169.254.169.254 and [::ffff:10.0.0.1] is 10.0.0.1.

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
# What a webhook must never reach, however it is routed: link-local (cloud metadata at 169.254.169.254
# included) and the metadata endpoints outside it: AWS's IPv6 one, Alibaba Cloud's, Azure's wire server.
METADATA = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16", "fe80::/10", "fd00:ec2::/32", "100.100.100.200/32", "168.63.129.16/32"))
# Refused whatever WEBHOOK_ALLOWED_NETWORKS says: the above, and the unspecified addresses.
ALWAYS_REFUSED = METADATA + tuple(ipaddress.ip_network(n) for n in ("0.0.0.0/8", "::/128"))
_REFUSED = "link-local, unspecified or a cloud metadata endpoint, always refused"

_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")     # RFC 6052, always the /96 layout
_NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")    # RFC 8215: any RFC 6052 layout inside it
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")   # RFC 2765 (SIIT)
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")             # RFC 4291, deprecated; :: and ::1 excepted


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
    return ipaddress.ip_address(text.split("%", 1)[0])  # a resolved link-local address may carry a scope


def _bits(value, start, length):
    """`length` bits of a 128-bit integer, from bit `start` counted from the most significant one."""
    return (value >> (128 - start - length)) & ((1 << length) - 1)


def embedded_ipv4(address):
    """The IPv4 addresses an IPv6 address carries, which traffic to it reaches through a translator or a
    tunnel; () for an IPv4 address or a plain IPv6 one."""
    if address.version != 6:
        return ()
    value = int(address)
    if address.ipv4_mapped is not None:
        carried = (int(address.ipv4_mapped),)
    elif address in _IPV4_TRANSLATED or address in _NAT64_WELL_KNOWN or address in _NAT64_LOCAL_USE:
        carried = (_bits(value, 96, 32),)  # the local-use prefix as a /96, its usual layout (see below)
    elif address.sixtofour is not None:
        carried = (int(address.sixtofour),)
    elif address.teredo is not None:
        carried = tuple(int(ipv4) for ipv4 in address.teredo)  # the server and the (inverted) client
    elif address in _IPV4_COMPATIBLE and value > 1:            # not :: (unspecified) nor ::1 (loopback)
        carried = (_bits(value, 96, 32),)
    else:
        return ()
    return tuple(dict.fromkeys(ipaddress.IPv4Address(ipv4) for ipv4 in carried))


def _other_nat64_layouts(address):
    """What a 64:ff9b:1::/48 address carries under RFC 6052's /48, /56 and /64 layouts. The operator picks
    the layout and the address does not tell it, so these may be what a translator reaches: they are
    checked against METADATA (an address of the usual /96 form reads as 0.0.0.x here, which passes)."""
    if address.version != 6 or address not in _NAT64_LOCAL_USE:
        return ()
    value = int(address)
    return tuple(ipaddress.IPv4Address(ipv4) for ipv4 in (_bits(value, 48, 16) << 16 | _bits(value, 72, 16),
                                                          _bits(value, 56, 8) << 24 | _bits(value, 72, 24),
                                                          _bits(value, 72, 32)))


def _within(address, networks):
    return any(address.version == network.version and address in network for network in networks)


def check_address(address, networks):
    """Raises UrlNotAllowed unless `address` (an IP address or its text) may be called. An IPv6 address
    that carries IPv4 is judged as each IPv4 it carries: every one must pass, and its IPv6 form is not
    matched against the allow-list."""
    if not isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        address = _address(str(address))
    carried = embedded_ipv4(address)
    for judged in (address, *carried):
        if _within(judged, ALWAYS_REFUSED):
            raise UrlNotAllowed(f"{address} is {_REFUSED}" if judged == address
                                else f"{address} carries {judged}, {_REFUSED}")
    for judged in _other_nat64_layouts(address):
        if _within(judged, METADATA):
            raise UrlNotAllowed(f"{address} may carry {judged}, {_REFUSED}")
    for judged in carried or (address,):
        if not _within(judged, networks):
            raise UrlNotAllowed(f"{address} is outside WEBHOOK_ALLOWED_NETWORKS" if judged == address
                                else f"{address} carries {judged}, outside WEBHOOK_ALLOWED_NETWORKS")


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
