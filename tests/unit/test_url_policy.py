"""app/url_policy.py: webhooks go only where WEBHOOK_ALLOWED_NETWORKS allows; link-local never."""
import pytest

from app.url_policy import DEFAULT_ALLOWED_NETWORKS, UrlNotAllowed, check_call, check_registration, parse_networks

DEFAULT = DEFAULT_ALLOWED_NETWORKS.split(",")
EVERYWHERE = ["0.0.0.0/0", "::/0"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9100/", "http://localhost:9100/hook", "http://10.1.2.3/", "https://192.168.0.10/x",
    "http://172.20.0.5:80/", "http://[::1]:9100/", "http://[fd00::1]/",
])
def test_loopback_and_private_backends_pass_by_default(url):
    check_registration(url, DEFAULT)
    check_call(url, DEFAULT)


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://[::ffff:169.254.169.254]/",
    "http://0.0.0.0:9100/",
])
def test_link_local_and_unspecified_addresses_are_always_refused(url):
    for allowed in (DEFAULT, EVERYWHERE):
        with pytest.raises(UrlNotAllowed):
            check_registration(url, allowed)
        with pytest.raises(UrlNotAllowed):
            check_call(url, allowed)


def test_public_addresses_need_an_explicit_setting():
    with pytest.raises(UrlNotAllowed, match="outside WEBHOOK_ALLOWED_NETWORKS"):
        check_call("http://8.8.8.8/", DEFAULT)
    check_call("http://8.8.8.8/", EVERYWHERE)


def test_a_narrow_setting_refuses_loopback_too():
    with pytest.raises(UrlNotAllowed):
        check_call("http://127.0.0.1:9100/", ["10.0.0.0/8"])
    with pytest.raises(UrlNotAllowed):
        check_call("http://localhost:9100/", ["10.0.0.0/8"])  # every address a name resolves to


def test_urls_with_credentials_or_other_schemes_are_refused():
    for url in ("http://user:pw@127.0.0.1/", "ftp://127.0.0.1/", "http:///nohost"):
        with pytest.raises(UrlNotAllowed):
            check_registration(url, DEFAULT)


def test_unresolvable_names_wait_for_the_call_time_check():
    check_registration("http://backend.invalid/", DEFAULT)  # may be deployed after its registration
    with pytest.raises(UrlNotAllowed, match="cannot resolve"):
        check_call("http://backend.invalid/", DEFAULT)


def test_a_malformed_setting_stops_the_start():
    with pytest.raises(ValueError, match="WEBHOOK_ALLOWED_NETWORKS"):
        parse_networks(("10.0.0.0/8", "not-a-cidr"))


def test_an_allowed_address_is_worked_out_once_a_refused_one_every_time():
    from app.url_policy import _allowed_literal

    _allowed_literal.cache_clear()
    for _ in range(3):
        check_call("http://127.0.0.1:9100/hook", DEFAULT)
    assert _allowed_literal.cache_info().hits == 2
    for _ in range(2):
        with pytest.raises(UrlNotAllowed):
            check_call("http://169.254.169.254/", EVERYWHERE)
    assert _allowed_literal.cache_info().currsize == 1


# Cloud metadata endpoints, and IPv4 embedded in IPv6, whatever the allow-list says.
METADATA_URLS = [
    "http://[fd00:ec2::254]/latest/meta-data/",         # AWS (IPv6): inside fc00::/7, the default allows it
    "http://100.100.100.200/latest/meta-data/",         # Alibaba Cloud
    "http://168.63.129.16/machine?comp=goalstate",      # Azure's wire server
    "http://169.254.169.254/computeMetadata/v1/",       # AWS, GCP, Azure, Oracle, ...
]
# Each embeds 169.254.169.254, 100.100.100.200 or 168.63.129.16 (or 0.0.0.0/8) in an IPv6 address.
EMBEDDING_URLS = [
    "http://[64:ff9b::a9fe:a9fe]/",                     # NAT64, the well-known prefix 64:ff9b::/96
    "http://[64:ff9b::100.100.100.200]/",
    "http://[64:ff9b:1::a9fe:a9fe]/",                   # NAT64, the local-use 64:ff9b:1::/48 (as a /96)
    "http://[64:ff9b:1:a9fe:a9:fe00::]/",               # ... laid out as a /48 (RFC 6052 §2.2)
    "http://[64:ff9b:1:a9:fe:a9fe::]/",                 # ... as a /56
    "http://[64:ff9b:1:0:a9:fea9:fe00:0]/",             # ... as a /64
    "http://[2002:a9fe:a9fe::1]/",                      # 6to4 (2002::/16)
    "http://[2002:a83f:8110::]/",                       # 6to4 of 168.63.129.16
    "http://[::169.254.169.254]/",                      # IPv4-compatible (::/96)
    "http://[::6464:64c8]/",                            # IPv4-compatible 100.100.100.200
    "http://[::ffff:100.100.100.200]/",                 # IPv4-mapped (::ffff:0:0/96)
    "http://[::ffff:0:169.254.169.254]/",               # IPv4-translated (::ffff:0:0:0/96)
    "http://[::ffff:0:a83f:8110]/",
    "http://[2001:0:4136:e378:8000:63bf:5601:5601]/",   # Teredo (2001::/32), client 169.254.169.254 (inverted)
    "http://[2001:0:a9fe:a9fe::1]/",                    # Teredo, server 169.254.169.254
    "http://[::2]/",                                    # IPv4-compatible 0.0.0.2
]


@pytest.mark.parametrize("url", METADATA_URLS + EMBEDDING_URLS)
def test_cloud_metadata_addresses_are_refused_whatever_the_setting(url):
    for allowed in (DEFAULT, EVERYWHERE, ["0.0.0.0/0"], ["::/0"], ["fd00::/8", "64:ff9b::/32", "2000::/3", "::/96"]):
        with pytest.raises(UrlNotAllowed, match="always refused"):
            check_registration(url, allowed)
        with pytest.raises(UrlNotAllowed, match="always refused"):
            check_call(url, allowed)


@pytest.mark.parametrize("host", ["100.100.25800", "1684301000", "0x64.0x64.0x64.0xc8", "2822734096"])
def test_metadata_addresses_written_as_names_are_refused_once_resolved(host):
    """Not IP literals to `ipaddress`, but the resolver reads them as 100.100.100.200 / 168.63.129.16."""
    with pytest.raises(UrlNotAllowed, match="always refused"):
        check_call(f"http://{host}/", EVERYWHERE)


@pytest.mark.parametrize("address", ["fd00:ec2::254", "64:ff9b::a9fe:a9fe", "2002:6464:64c8::", "::ffff:0:a9fe:a9fe",
                                     "fd00:ec2::254%eth0", "168.63.129.16"])
def test_every_resolved_address_is_judged_the_same_way(address):
    from app.url_policy import check_address

    with pytest.raises(UrlNotAllowed, match="always refused"):
        check_address(address, parse_networks(tuple(EVERYWHERE)))


def test_an_embedded_ipv4_is_judged_as_that_ipv4():
    only_v4, only_v6 = ["0.0.0.0/0"], ["::/0"]
    for url in ("http://[64:ff9b::808:808]/", "http://[2002:808:808::1]/", "http://[::ffff:0:8.8.8.8]/",
                "http://[2001:0:808:808::f7f7:f7f7]/", "http://[::8.8.8.8]/"):  # all 8.8.8.8
        check_call(url, only_v4)
        check_call(url, EVERYWHERE)
        with pytest.raises(UrlNotAllowed, match="outside WEBHOOK_ALLOWED_NETWORKS"):
            check_call(url, only_v6)
    check_call("http://[64:ff9b::a00:5]/", ["10.0.0.0/8"])  # 10.0.0.5 through NAT64
    check_call("http://[64:ff9b:1::a00:5]/", ["10.0.0.0/8"])  # the local-use prefix in its usual /96 form
    check_call("http://[64:ff9b:1::808:808]/", EVERYWHERE)  # as DNS64 synthesizes it for a public backend
    with pytest.raises(UrlNotAllowed, match="outside WEBHOOK_ALLOWED_NETWORKS"):
        check_call("http://[64:ff9b::a00:5]/", ["64:ff9b::/96"])
    with pytest.raises(UrlNotAllowed):  # a Teredo address is judged by both the IPv4s it carries
        check_call("http://[2001:0:808:808::5601:5601]/", EVERYWHERE)  # server 8.8.8.8, client 169.254.169.254


def test_loopback_and_unspecified_ipv6_are_not_read_as_embedded_ipv4():
    check_call("http://[::1]:9100/", DEFAULT)  # ::1 is loopback, not IPv4-compatible 0.0.0.1
    with pytest.raises(UrlNotAllowed, match="always refused"):
        check_call("http://[::]:9100/", EVERYWHERE)
    check_call("http://[fd00:ec3::253]/", DEFAULT)  # a unique-local address next to AWS's range
    with pytest.raises(UrlNotAllowed, match="always refused"):
        check_call("http://[fd00:ec2::23]/", DEFAULT)  # AWS's range is its own (metadata, DNS, NTP): all refused


def test_refused_metadata_literals_never_enter_the_verdict_cache():
    from app.url_policy import _allowed_literal

    _allowed_literal.cache_clear()
    for url in METADATA_URLS + EMBEDDING_URLS:
        with pytest.raises(UrlNotAllowed):
            check_call(url, EVERYWHERE)
    assert _allowed_literal.cache_info().currsize == 0
