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
