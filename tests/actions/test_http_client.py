"""The guarded HTTP client: what it refuses (the SSRF table), what it lets through, and
its caps on redirects, size and time.

The local test server stands at 127.0.0.1, which the guard refuses; tests that need to reach
it say so with OUTBOUND_ALLOWLIST (by address, or by a fake host name resolved to it), and
every refusal below is checked against that server so that a guard that let the request
through would make the test fail.
"""

import datetime
import gzip
import ipaddress
import re
import socket
import ssl
import threading
import time

import pytest
import requests
import urllib3.connection
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pytest_httpserver import HTTPServer
from werkzeug import Response

from actions import http_client
from actions.http_client import BlockedDestination, blocked_reason, check_destination
from actions.registry import ActionError

PROVIDER = "provider.test"  # a name the fake DNS resolves to the local server


@pytest.fixture(autouse=True)
def no_allowlist(settings):
    """The SSRF tests never depend on the environment's allowlist."""
    settings.OUTBOUND_ALLOWLIST = []


@pytest.fixture
def server(httpserver_ipv4):
    return httpserver_ipv4


@pytest.fixture
def dns(monkeypatch):
    """dns["name"] = ["1.2.3.4", ...]: names answered by the fake resolver (others: real).
    dns.asked counts the lookups of each fake name."""

    class FakeDNS(dict):
        asked: dict

    names = FakeDNS()
    names.asked = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in names:
            return real(host, port, *args, **kwargs)
        names.asked[host] = names.asked.get(host, 0) + 1
        answers = names[host]
        answer = answers[min(names.asked[host], len(answers)) - 1]
        infos = []
        for address in answer if isinstance(answer, list) else [answer]:
            if ipaddress.ip_address(address).version == 4:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
            else:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
        return infos

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


def local(server, path="/", host="127.0.0.1"):
    return f"http://{host}:{server.port}{path}"


# -- the SSRF table ---------------------------------------------------------------------

# (host as written in the URL, the address the refusal must name)
BLOCKED_HOSTS = [
    ("127.0.0.1", "127.0.0.1"),  # loopback
    ("localhost", "127.0.0.1"),  # a name for loopback
    ("10.0.0.1", "10.0.0.1"),  # private 10/8
    ("172.16.0.1", "172.16.0.1"),  # private 172.16/12
    ("192.168.1.1", "192.168.1.1"),  # private 192.168/16
    ("169.254.169.254", "169.254.169.254"),  # cloud metadata
    ("100.64.0.1", "100.64.0.1"),  # carrier-grade NAT
    ("[::1]", "::1"),  # IPv6 loopback
    ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),  # IPv4-mapped loopback
    ("0.0.0.0", "0.0.0.0"),  # noqa: S104 - reaches this host on Linux
    ("[fd12:3456::1]", "fd12:3456::1"),  # IPv6 unique local
    ("[fe80::1]", "fe80::1"),  # IPv6 link-local
    ("224.0.0.1", "224.0.0.1"),  # multicast
    ("240.0.0.1", "240.0.0.1"),  # reserved
    ("[64:ff9b::7f00:1]", "64:ff9b::7f00:1"),  # NAT64 of 127.0.0.1
    ("2130706433", "127.0.0.1"),  # 127.0.0.1 written as one decimal number
]


@pytest.mark.parametrize(("host", "address"), BLOCKED_HOSTS)
def test_refuses_non_public_destinations(server, host, address):
    with pytest.raises(BlockedDestination, match=re.escape(address)) as excinfo:
        http_client.request("GET", local(server, "/secret", host=host), timeout=1)
    assert excinfo.value.kind == "refused"
    assert server.log == []


@pytest.mark.parametrize(
    ("url", "scheme"),
    [("ftp://example.com/file", "ftp"), ("file:///etc/passwd", "file"), ("gopher://x/", "gopher")],
)
def test_refuses_other_schemes(url, scheme):
    with pytest.raises(BlockedDestination, match=f"not '{scheme}'"):
        http_client.request("GET", url)


def test_refuses_a_name_that_resolves_to_a_private_address(server, dns):
    dns["intranet.example.com"] = ["10.1.2.3"]
    with pytest.raises(BlockedDestination, match=r"intranet\.example\.com resolves to 10\.1\.2\.3"):
        http_client.request("GET", "http://intranet.example.com/", timeout=1)


def test_refuses_a_name_with_any_private_address_among_public_ones(dns):
    dns["mixed.example.com"] = [["93.184.216.34", "127.0.0.1"]]
    with pytest.raises(BlockedDestination, match=r"127\.0\.0\.1"):
        check_destination("mixed.example.com", 80)


def test_refuses_a_name_that_resolves_to_the_local_server(server, dns):
    dns["rebind.example.com"] = ["127.0.0.1"]
    with pytest.raises(BlockedDestination, match=r"rebind\.example\.com resolves to 127\.0\.0\.1"):
        http_client.request("GET", local(server, host="rebind.example.com"))
    assert server.log == []


@pytest.mark.parametrize(("host", "address"), BLOCKED_HOSTS[:10])
def test_refuses_a_redirect_to_a_non_public_destination(server, dns, settings, host, address):
    # The first hop is trusted by name; the redirect target is judged on its own.
    dns[PROVIDER] = ["127.0.0.1"]
    settings.OUTBOUND_ALLOWLIST = [PROVIDER]
    target = local(server, "/internal", host=host)
    server.expect_request("/start").respond_with_data("", 302, {"Location": target})
    server.expect_request("/internal").respond_with_data("internal data")

    with pytest.raises(BlockedDestination, match=re.escape(address)):
        http_client.request("GET", local(server, "/start", host=PROVIDER), timeout=1)
    assert [request.path for request, _ in server.log] == ["/start"]


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://example.com/"])
def test_refuses_a_redirect_to_another_scheme(server, dns, settings, target):
    dns[PROVIDER] = ["127.0.0.1"]
    settings.OUTBOUND_ALLOWLIST = [PROVIDER]
    server.expect_request("/start").respond_with_data("", 301, {"Location": target})
    with pytest.raises(BlockedDestination, match="only http and https"):
        http_client.request("GET", local(server, "/start", host=PROVIDER))


# -- public addresses ---------------------------------------------------------------------


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert blocked_reason(address) is None


def test_a_name_resolving_to_a_public_address_passes_the_check(dns):
    dns["api.example.com"] = ["93.184.216.34"]
    assert check_destination("api.example.com", 443) == ipaddress.ip_address("93.184.216.34")


def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(dns, monkeypatch):
    # A rebinding resolver: public for the check, loopback for any later lookup.
    dns["api.example.com"] = ["93.184.216.34", "127.0.0.1"]
    dialled = []

    def create_connection(address, *args, **kwargs):
        dialled.append(address)
        raise ConnectionRefusedError(111, "Connection refused")  # no network here

    monkeypatch.setattr(urllib3.connection.connection, "create_connection", create_connection)
    with pytest.raises(ActionError) as excinfo:
        http_client.request("GET", "http://api.example.com/v1/ping", timeout=2)
    assert excinfo.value.kind == "connection"
    assert dialled == [("93.184.216.34", 80)]
    assert dns.asked["api.example.com"] == 1


# -- the allowlist --------------------------------------------------------------------------


def test_the_local_server_is_reached_only_when_the_allowlist_trusts_it(server, settings):
    server.expect_request("/ping").respond_with_json({"pong": True})
    with pytest.raises(BlockedDestination):
        http_client.request("GET", local(server, "/ping"))
    assert server.log == []

    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    response = http_client.request("GET", local(server, "/ping"))
    assert (response.status, response.json()) == (200, {"pong": True})


@pytest.mark.parametrize(
    ("allowlist", "allowed"),
    [
        (["127.0.0.0/8"], True),  # a CIDR
        (["provider.test"], True),  # a host name: any address it resolves to
        (["*.test"], True),  # a wildcard suffix
        (["10.0.0.0/8", "other.test"], False),  # entries that do not cover it
        (["*.provider.test"], False),  # subdomains only, not the name itself
    ],
)
def test_allowlist_entries(server, dns, settings, allowlist, allowed):
    dns[PROVIDER] = ["127.0.0.1"]
    settings.OUTBOUND_ALLOWLIST = allowlist
    server.expect_request("/").respond_with_data("ok")
    if allowed:
        assert http_client.request("GET", local(server, host=PROVIDER)).text == "ok"
    else:
        with pytest.raises(BlockedDestination):
            http_client.request("GET", local(server, host=PROVIDER))


def test_a_trusted_address_does_not_open_the_others(settings):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    with pytest.raises(BlockedDestination, match=r"169\.254\.169\.254"):
        http_client.request("GET", "http://169.254.169.254/latest/meta-data/", timeout=1)


def test_the_host_header_keeps_the_name_while_connecting_to_the_address(server, dns, settings):
    dns[PROVIDER] = ["127.0.0.1"]
    settings.OUTBOUND_ALLOWLIST = [PROVIDER]
    server.expect_request("/").respond_with_data("ok")
    http_client.request("GET", local(server, host=PROVIDER))
    request, _ = server.log[0]
    assert request.headers["Host"] == f"{PROVIDER}:{server.port}"


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server at 127.0.0.1 whose certificate names provider.test only; yields
    (server, CA file, the SNI names it was asked for)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PROVIDER)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(PROVIDER)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    sni = []
    context.sni_callback = lambda _socket, name, _context: sni.append(name)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    yield server, str(cert_file), sni
    server.stop()


def test_tls_is_verified_for_the_name_while_connecting_to_the_address(tls_server, dns, settings):
    server, ca_file, sni = tls_server
    dns[PROVIDER] = ["127.0.0.1"]
    dns["impostor.test"] = ["127.0.0.1"]
    settings.OUTBOUND_ALLOWLIST = [PROVIDER, "impostor.test"]
    server.expect_request("/").respond_with_data("secure")
    with http_client.session() as guarded:
        guarded.verify = ca_file
        assert guarded.get(f"https://{PROVIDER}:{server.port}/").text == "secure"
        assert sni == [PROVIDER]
        # Same address, another name: the certificate does not match, so no request.
        with pytest.raises(requests.exceptions.SSLError, match=r"impostor\.test"):
            guarded.get(f"https://impostor.test:{server.port}/")
    assert len(server.log) == 1


# -- redirects ------------------------------------------------------------------------------


def test_follows_allowed_redirects_and_turns_a_post_into_a_get_on_303(server, settings):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    server.expect_request("/form", method="POST").respond_with_data("", 303, {"Location": "/done"})
    server.expect_request("/done", method="GET").respond_with_data("thanks")
    response = http_client.request("POST", local(server, "/form"), json={"a": 1})
    assert (response.status, response.text, response.redirects) == (200, "thanks", 1)
    assert response.url == local(server, "/done")


def test_credentials_are_dropped_when_a_redirect_leaves_the_origin(server, dns, settings):
    dns["other.test"] = ["127.0.0.1"]
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1", "other.test"]
    server.expect_request("/start").respond_with_data(
        "", 307, {"Location": local(server, "/landing", host="other.test")}
    )
    server.expect_request("/landing").respond_with_data("ok")
    http_client.request(
        "GET",
        local(server, "/start"),
        headers={"Authorization": "Bearer abc", "Cookie": "sid=1", "X-Trace": "t"},
        auth=("user", "pw"),
    )
    first, second = (request for request, _ in server.log)
    assert first.headers["Authorization"].startswith("Basic ")
    assert "Authorization" not in second.headers
    assert "Cookie" not in second.headers
    assert second.headers["X-Trace"] == "t"


def test_credentials_stay_on_a_same_origin_redirect(server, settings):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    server.expect_request("/old").respond_with_data("", 308, {"Location": "/new"})
    server.expect_request("/new").respond_with_data("ok")
    http_client.request("GET", local(server, "/old"), headers={"Authorization": "Bearer abc"})
    assert server.log[1][0].headers["Authorization"] == "Bearer abc"


def test_too_many_redirects_fail(server, settings):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    server.expect_request("/loop").respond_with_data("", 302, {"Location": "/loop"})
    with pytest.raises(ActionError, match="more than 2 redirects") as excinfo:
        http_client.request("GET", local(server, "/loop"), max_redirects=2)
    assert excinfo.value.kind == "client_error"
    assert len(server.log) == 3


# -- size and time --------------------------------------------------------------------------


def test_a_declared_oversized_response_is_not_read(server, settings):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    server.expect_request("/big").respond_with_data("x" * 5000)
    with pytest.raises(ActionError, match="5000 bytes, more than the 1000 allowed") as excinfo:
        http_client.request("GET", local(server, "/big"), max_bytes=1000)
    assert excinfo.value.kind == "too_large"


def test_a_streamed_response_stops_at_the_cap(server, settings):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    produced = []

    def endless(_request):
        def chunks():
            for _ in range(1000):
                produced.append(1)
                yield b"y" * 1024

        return Response(chunks())  # no Content-Length: sent chunked

    server.expect_request("/stream").respond_with_handler(endless)
    with pytest.raises(ActionError, match="passed the 10000 bytes allowed") as excinfo:
        http_client.request("GET", local(server, "/stream"), max_bytes=10_000)
    assert excinfo.value.kind == "too_large"


def test_the_cap_counts_decompressed_bytes(server, settings):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    bomb = gzip.compress(b"0" * 5_000_000)  # about 5 KB on the wire
    server.expect_request("/bomb").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(ActionError, match="passed the 100000 bytes allowed"):
        http_client.request("GET", local(server, "/bomb"), max_bytes=100_000)


def test_a_slow_server_times_out(server, settings):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    release = threading.Event()  # frees the (single-threaded) server for the next test

    def slow(_request):
        release.wait(5)
        return Response("late")

    server.expect_request("/slow").respond_with_handler(slow)
    started = time.monotonic()
    try:
        with pytest.raises(ActionError, match=r"did not complete within 0\.3 seconds") as excinfo:
            http_client.request("GET", local(server, "/slow"), timeout=0.3)
    finally:
        release.set()
    assert excinfo.value.kind == "timeout"
    assert time.monotonic() - started < 0.9


def test_a_trickling_body_cannot_stretch_the_total_time(server, settings):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]

    def trickle(_request):
        def drops():
            for _ in range(12):
                time.sleep(0.1)
                yield b"."

        return Response(drops())

    server.expect_request("/trickle").respond_with_handler(trickle)
    started = time.monotonic()
    with pytest.raises(ActionError) as excinfo:
        http_client.request("GET", local(server, "/trickle"), timeout=0.5)
    assert excinfo.value.kind == "timeout"
    assert time.monotonic() - started < 0.9


def test_connection_refused_is_a_connection_error(settings):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    with socket.socket() as sock:  # a port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ActionError, match="could not connect") as excinfo:
        http_client.request("GET", f"http://127.0.0.1:{port}/")
    assert excinfo.value.kind == "connection"


# -- the session for SDKs -------------------------------------------------------------------


def test_the_session_enforces_the_same_rules(server, settings):
    server.expect_request("/push").respond_with_data("", 201)
    with http_client.session() as guarded, pytest.raises(BlockedDestination):
        guarded.post(local(server, "/push"), data=b"x")
    assert server.log == []

    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    with http_client.session() as guarded:
        assert guarded.post(local(server, "/push"), data=b"x").status_code == 201


def test_the_session_rechecks_redirects(server, dns, settings):
    dns[PROVIDER] = ["127.0.0.1"]
    settings.OUTBOUND_ALLOWLIST = [PROVIDER]
    server.expect_request("/start").respond_with_data(
        "", 302, {"Location": local(server, "/internal")}
    )
    with http_client.session() as guarded, pytest.raises(BlockedDestination, match=r"127\.0\.0\.1"):
        guarded.get(local(server, "/start", host=PROVIDER))
    assert len(server.log) == 1
