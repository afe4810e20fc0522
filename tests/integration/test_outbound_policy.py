"""The outbound address policy against real servers on loopback, with the suite's loopback allow-list
off (`strict_outbound`): every test allow-lists exactly the server it means to reach.

There is no public DNS here, so names that public DNS would answer (`localtest.me`, which resolves
to 127.0.0.1 for everyone, and a rebinding name) are emulated by replacing the policy's resolver for
those names only; every other name still goes to the system resolver. The connection itself is real.
"""

from __future__ import annotations

import ipaddress

import pytest
from django.core.exceptions import ImproperlyConfigured
from pytest_httpserver import HTTPServer

from scm import outbound
from scm.observability import metrics
from scm.outbound import policy

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("strict_outbound")]

PUBLIC = ipaddress.ip_address("93.184.216.34")
FAST = outbound.Budget(connect=1, total=3, max_bytes=4096)


@pytest.fixture
def names(monkeypatch):
    """Emulated DNS: `names["host"] = [addresses...]` (or a callable giving the next answer)."""
    table: dict[str, object] = {}
    real = policy.resolver

    def resolve(host: str, port: int):
        answer = table.get(host)
        if answer is None:
            return real(host, port)
        return [ipaddress.ip_address(a) for a in (answer() if callable(answer) else answer)]

    monkeypatch.setattr(policy, "resolver", resolve)
    return table


@pytest.fixture
def server():
    with HTTPServer(host="127.0.0.1", port=0) as running:
        running.expect_request("/hook").respond_with_data("ok")
        yield running


def allow(settings, *entries: str) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = list(entries)


def call(url: str, partner: str = "test:policy"):
    return outbound.request("GET", url, partner=partner, budget=FAST)


def refused_count(kind: str = "test") -> float:
    return metrics.outbound_calls_refused.labels(kind=kind, reason="address")._value.get()


def test_loopback_is_refused_at_send_and_save_unless_allow_listed(server, settings):
    url = server.url_for("/hook")
    before = refused_count()

    with pytest.raises(outbound.AddressRefused) as caught:
        call(url)
    assert "127.0.0.1" in caught.value.message and "loopback" in caught.value.message
    assert caught.value.retryable is False
    with pytest.raises(outbound.AddressRefused, match="The webhook URL is refused by the outbound policy"):
        outbound.check_url(url, what="webhook URL")
    assert server.log == [], "nothing reached the server"
    assert refused_count() == before + 1

    allow(settings, f"127.0.0.1:{server.port}")
    outbound.check_url(url)
    assert call(url).text == "ok"
    assert len(server.log) == 1


def test_another_port_on_the_same_address_stays_refused(server, settings):
    allow(settings, f"127.0.0.1:{server.port + 1}")
    with pytest.raises(outbound.AddressRefused):
        call(server.url_for("/hook"))
    allow(settings, "127.0.0.0/8")
    assert call(server.url_for("/hook")).status_code == 200


def test_localhost_by_name_is_refused(server):
    url = f"http://localhost:{server.port}/hook"
    with pytest.raises(outbound.AddressRefused, match="localhost resolves to 127.0.0.1"):
        outbound.check_url(url)
    with pytest.raises(outbound.AddressRefused):
        call(url)
    assert server.log == []


def test_a_public_name_resolving_to_loopback_is_refused_at_connect(server, names, settings):
    names["localtest.me"] = ["127.0.0.1"]
    url = f"http://localtest.me:{server.port}/hook"
    with pytest.raises(outbound.AddressRefused, match=r"localtest\.me resolves to 127\.0\.0\.1"):
        outbound.check_url(url, what="webhook URL")
    with pytest.raises(outbound.AddressRefused, match=r"localtest\.me resolves to 127\.0\.0\.1:\d+, a loopback"):
        call(url)
    assert server.log == []

    allow(settings, f"127.0.0.1:{server.port}")
    assert call(url).text == "ok", "allow-listed, the same name is called (and the Host header kept)"
    assert server.log[0][0].headers["Host"] == f"localtest.me:{server.port}"


def test_dns_rebinding_passes_the_save_check_and_is_refused_at_connect(server, names):
    answers = iter([[str(PUBLIC)], ["127.0.0.1"]])
    names["rebind.example"] = lambda: next(answers)
    url = f"http://rebind.example:{server.port}/hook"

    outbound.check_url(url)  # first answer: a public address, so it saves
    with pytest.raises(outbound.AddressRefused, match="rebind.example resolves to 127.0.0.1"):
        call(url)
    assert server.log == []


def test_a_name_with_one_refused_address_connects_only_to_the_allowed_one(server, names, settings):
    names["mixed.example"] = ["10.1.2.3", "127.0.0.1"]
    allow(settings, f"127.0.0.1:{server.port}")
    assert call(f"http://mixed.example:{server.port}/hook").status_code == 200


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://[::1]:8080/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local (cloud metadata service)"),
        ("http://[::ffff:127.0.0.1]/", "IPv4-mapped loopback"),
        ("http://[::ffff:169.254.169.254]/", "IPv4-mapped link-local (cloud metadata service)"),
        ("http://10.0.0.8/", "private (RFC 1918 / ULA)"),
        ("http://172.16.5.4/", "private (RFC 1918 / ULA)"),
        ("http://192.168.1.1/", "private (RFC 1918 / ULA)"),
        ("http://[fd12::1]/", "private (RFC 1918 / ULA)"),
        ("http://[fe80::1]/", "link-local"),
        ("http://100.64.0.1/", "shared address space (CGNAT)"),
        ("http://224.0.0.1/", "multicast"),
        ("http://239.1.2.3/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://0.0.0.0:6379/", "unspecified"),
        ("http://240.0.0.1/", "reserved"),
        ("http://[64:ff9b::7f00:1]/", "an IPv4/IPv6 translation prefix"),
        ("http://[2002:7f00:1::]/", "an IPv4/IPv6 translation prefix"),
        ("http://192.0.2.10/", "not globally routable"),
        ("http://127.0.0.1:6379/", "loopback"),
    ],
)
def test_internal_addresses_are_refused_with_their_reason(url, reason):
    with pytest.raises(outbound.AddressRefused) as caught:
        outbound.check_url(url)
    assert caught.value.fields["reason"] == reason
    with pytest.raises(outbound.AddressRefused) as caught:
        call(url)
    assert caught.value.fields["reason"] == reason


@pytest.mark.parametrize(
    "url, message",
    [
        ("javascript:alert(1)", "must use http or https, not 'javascript'"),
        ("file:///etc/passwd", "must use http or https, not 'file'"),
        ("ftp://example.com/x", "must use http or https, not 'ftp'"),
        ("gopher://127.0.0.1:6379/_INFO", "must use http or https"),
        ("example.com/hook", "must use http or https, not 'no scheme'"),
        ("http:///hook", "has no host"),
        ("http://example.com:99999/", "not a valid URL"),
    ],
)
def test_only_http_urls_with_a_host_are_accepted(url, message):
    with pytest.raises(outbound.AddressRefused, match=message):
        outbound.check_url(url)


def test_public_addresses_and_unresolvable_names_pass_the_save_check():
    outbound.check_url("https://93.184.216.34/hook")
    outbound.check_url("https://[2606:4700::1111]/hook")
    outbound.check_url("https://partner.invalid/hook")  # no DNS answer now: the connect-time check decides


def test_a_redirect_to_a_private_address_is_not_followed(settings):
    with HTTPServer(host="127.0.0.1", port=0) as inside, HTTPServer(host="127.0.0.1", port=0) as partner:
        inside.expect_request("/secret").respond_with_data("internal")
        moved = {"Location": inside.url_for("/secret")}
        partner.expect_request("/hook").respond_with_data("", status=302, headers=moved)
        allow(settings, f"127.0.0.1:{partner.port}")
        response = call(partner.url_for("/hook"))
        assert response.status_code == 302
        assert inside.log == []


def test_allow_list_entries(settings):
    allow(settings, "10.20.0.0/16", "192.168.1.5:8443", "[fd00::5]:9000", "127.0.0.2")
    listed = policy.allow_list()
    ip = ipaddress.ip_address
    assert listed.allows(ip("10.20.3.4"), 80) and not listed.allows(ip("10.21.0.1"), 80)
    assert listed.allows(ip("192.168.1.5"), 8443) and not listed.allows(ip("192.168.1.5"), 8444)
    assert listed.allows(ip("fd00::5"), 9000) and not listed.allows(ip("fd00::5"), 9001)
    assert listed.allows(ip("127.0.0.2"), 1) and not listed.allows(ip("127.0.0.1"), 1)
    assert listed.allows(ip("::ffff:10.20.0.1"), 80), "an IPv4-mapped address matches its IPv4 entry"

    allow(settings, "tms.internal:443")
    with pytest.raises(ImproperlyConfigured, match="names are not accepted"):
        policy.allow_list()


def test_the_system_check_reports_a_refused_tms_url(settings):
    from scm.outbound.checks import outbound_urls

    settings.TMS_BASE_URL = "http://169.254.169.254/"
    [problem] = outbound_urls()
    assert problem.id == "outbound.E001" and "cloud metadata" in problem.msg
    settings.TMS_BASE_URL = "https://tms.example.com/"
    assert outbound_urls() == []


@pytest.fixture
def tls_partner(tmp_path):
    """An HTTPS server on loopback with a self-signed certificate for the name `partner.test`."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
         "-out", str(cert), "-subj", "/CN=partner.test", "-addext", "subjectAltName=DNS:partner.test"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with HTTPServer(host="127.0.0.1", port=0, ssl_context=context) as server:
        server.expect_request("/hook").respond_with_data("secure")
        server.ca_bundle = str(cert)
        yield server


def test_https_connects_to_the_judged_address_and_verifies_the_certificate_for_the_name(
    tls_partner, names, settings
):
    names["partner.test"] = ["127.0.0.1"]
    names["impostor.test"] = ["127.0.0.1"]
    allow(settings, f"127.0.0.1:{tls_partner.port}")
    url = f"https://partner.test:{tls_partner.port}/hook"

    response = outbound.request("GET", url, partner="test:tls", budget=FAST, ca_bundle=tls_partner.ca_bundle)
    assert response.text == "secure"
    assert tls_partner.log[0][0].headers["Host"] == f"partner.test:{tls_partner.port}"

    with pytest.raises(outbound.CallFailed, match="CERTIFICATE_VERIFY_FAILED|certificate"):
        outbound.request("GET", url, partner="test:tls", budget=FAST)  # not our CA: verification stays on
    with pytest.raises(outbound.CallFailed, match="(?i)hostname|match"):
        outbound.request(
            "GET", f"https://impostor.test:{tls_partner.port}/hook", partner="test:tls", budget=FAST,
            ca_bundle=tls_partner.ca_bundle,
        )
    assert len(tls_partner.log) == 1


def test_special_use_names_fail_without_asking_dns(monkeypatch):
    """erp.partner.invalid (the demo's partner) is refused before any DNS query leaves the machine."""
    from scm.outbound import policy

    def no_dns(*args, **kwargs):
        raise AssertionError("getaddrinfo must not be called for a special-use name")

    monkeypatch.setattr(policy.socket, "getaddrinfo", no_dns)
    for host in ("erp.partner.invalid", "shop.test", "www.example.", "ERP.PARTNER.INVALID"):
        with pytest.raises(OSError, match="never resolves"):
            policy.system_resolve(host, 443)
