"""One network policy for every connection to a backend: REST and the page's WebSocket trust the same CAs and go
through the same proxy.

End to end against the project's server behind a real TLS front on loopback, whose
certificate comes from a throwaway CA (``trustme``), and a real CONNECT proxy
(``tests/_tls.py``): whole pytest runs with ``steel_page`` over https and wss, and each
client on its own. The proxy's reading of the environment is checked as rules too.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from pytest_steel import AsyncSteelClient, SteelClient, SteelUnreachableError
from pytest_steel._client import network
from pytest_steel._client.http import connection_trouble

from ._support import RUN_BOUND, StartServer
from ._tls import ConnectProxy, TLSFront

pytestmark = pytest.mark.timeout(RUN_BOUND * 2)

ENVIRONMENT = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "STEEL_BASE_URL",
    "STEEL_API_KEY",
    *(f"{name}{suffix}" for name in ("https", "http", "all", "no") for suffix in ("_proxy", "_PROXY")),
)
ONE_PAGE = """
def test_page(steel_page):
    steel_page.set_content("<title>over wss</title>")
    assert steel_page.title() == "over wss"
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing of this machine's trust or proxies reaches the tests: each sets what it means."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    """A throwaway CA, and the PEM file of its certificate."""
    authority = trustme.CA()
    pem = tmp_path_factory.mktemp("ca") / "test-ca.pem"
    authority.cert_pem.write_to_path(str(pem))
    return authority, pem


@pytest.fixture
def front(ca: tuple[trustme.CA, Path], start_server: StartServer) -> Iterator[TLSFront]:
    """A steel-local behind a TLS front on 127.0.0.1 whose certificate the test CA signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca[0].issue_cert("127.0.0.1").configure_cert(context)
    served = TLSFront(context)
    server = start_server("--public-url", served.url)
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    served.upstream = (host, int(port))
    yield served
    served.close()


@pytest.fixture
def connect_proxy() -> Iterator[ConnectProxy]:
    """A CONNECT proxy on loopback that records its tunnels."""
    proxy = ConnectProxy()
    yield proxy
    proxy.close()


def run_one_page(pytester: pytest.Pytester, base_url: str) -> pytest.RunResult:
    pytester.makepyfile(ONE_PAGE)
    return pytester.runpytest_subprocess("--steel-base-url", base_url, "-p", "no:playwright", timeout=RUN_BOUND)


def kinds(front: TLSFront) -> set[str]:
    """What connections reached the server through the front, by their first request: REST, the page's WebSocket."""
    seen = set()
    for received in front.received:
        target = received.first_line.split(" ")[1]
        seen.add("websocket" if target.startswith("/?sessionId=") else "rest" if target.startswith("/v1/") else target)
    return seen


# -- whole runs --------------------------------------------------------------------------


def test_with_the_ca_in_ssl_cert_file_a_page_test_passes_over_https_and_wss(
    pytester: pytest.Pytester, front: TLSFront, ca: tuple[trustme.CA, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca[1]))
    result = run_one_page(pytester, front.url)
    result.assert_outcomes(passed=1)
    assert kinds(front) == {"rest", "websocket"}  # REST over https, the page over wss, both via TLS


def test_through_a_connect_proxy_both_rest_and_the_page_go_through_it(
    pytester: pytest.Pytester,
    front: TLSFront,
    ca: tuple[trustme.CA, Path],
    connect_proxy: ConnectProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca[1]))
    monkeypatch.setenv("HTTPS_PROXY", connect_proxy.url)
    result = run_one_page(pytester, front.url)
    result.assert_outcomes(passed=1)
    assert kinds(front) == {"rest", "websocket"}
    assert {t.target for t in connect_proxy.tunnels} == {f"127.0.0.1:{front.port}"}
    tunnelled = {t.onward_port for t in connect_proxy.tunnels}
    went_around = [r.first_line for r in front.received if r.peer_port not in tunnelled]
    assert went_around == []  # every connection to the server, REST and the page's, came through the proxy


def test_without_the_ca_the_run_fails_naming_the_certificate_problem(
    pytester: pytest.Pytester, front: TLSFront
) -> None:
    result = run_one_page(pytester, front.url)
    result.assert_outcomes(errors=1)
    said = (
        f"could not reach the Steel API at {front.url}: its TLS certificate is not trusted (unable to get local issuer "
        "certificate); this machine trusts the system's certificate store (neither SSL_CERT_FILE nor SSL_CERT_DIR is "
        "set); to trust a private CA, point SSL_CERT_FILE at a PEM bundle that holds it"
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_page*",
            f"SteelUnreachableError: {said}",
            "*= pytest-steel =*",
            f"the Steel backend was unavailable, so tests needing a session errored: {said}",
        ]
    )
    assert front.received == []  # no request was sent over the untrusted connection


# -- each client on its own ----------------------------------------------------------------


async def browser_version(url: str) -> str:
    """Connect to a session's CDP URL as the relay does (its session, ``ws_options``) and ask the browser's version."""
    from aiohttp import ClientSession

    async with (
        ClientSession(trust_env=False) as http,
        http.ws_connect(url, max_msg_size=0, **network.ws_options(url)) as browser,
    ):
        await browser.send_str(json.dumps({"id": 1, "method": "Browser.getVersion"}))
        answer = json.loads((await asyncio.wait_for(browser.receive(), 30)).data)
        return str(answer["result"]["product"])


def both_clients(url: str) -> str:
    """A session created over REST, its browser asked over the WebSocket: the version it answered."""
    with SteelClient(url) as client:
        session = client.create()
        try:
            return asyncio.run(browser_version(str(client.cdp_url(session))))
        finally:
            client.release(session.id)


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.0/8", "*"])
def test_no_proxy_takes_both_clients_around_the_proxy(
    front: TLSFront,
    ca: tuple[trustme.CA, Path],
    connect_proxy: ConnectProxy,
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca[1]))
    monkeypatch.setenv("HTTPS_PROXY", connect_proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    assert "Chrome" in both_clients(front.url)
    assert connect_proxy.tunnels == []
    assert kinds(front) == {"rest", "websocket"}


def test_without_no_proxy_both_clients_tunnel_with_the_proxys_credentials(
    front: TLSFront, ca: tuple[trustme.CA, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = ConnectProxy(authorization="Basic dXNlcjpzM2NyZXQ=")  # user:s3cret
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca[1]))
        monkeypatch.setenv("https_proxy", proxy.url.replace("http://", "http://user:s3cret@"))
        assert "Chrome" in both_clients(front.url)
        tunnelled = {t.onward_port for t in proxy.tunnels}
        assert len(tunnelled) >= 2 and all(r.peer_port in tunnelled for r in front.received)
        assert kinds(front) == {"rest", "websocket"}
    finally:
        proxy.close()


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio has TLS in TLS from Python 3.11 (aiohttp needs it)")
def test_an_https_proxy_is_verified_with_the_same_trust(
    front: TLSFront, ca: tuple[trustme.CA, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS to the proxy, and the server's TLS inside its tunnel: both clients, both certificates from the test CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca[0].issue_cert("127.0.0.1").configure_cert(context)
    proxy = ConnectProxy(ssl_context=context)
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca[1]))
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        assert "Chrome" in both_clients(front.url)
        assert kinds(front) == {"rest", "websocket"}
        assert {r.peer_port for r in front.received} <= {t.onward_port for t in proxy.tunnels}
    finally:
        proxy.close()


def test_the_async_client_follows_the_same_policy(
    front: TLSFront, ca: tuple[trustme.CA, Path], connect_proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca[1]))
    monkeypatch.setenv("ALL_PROXY", connect_proxy.url)

    async def health() -> dict:
        async with AsyncSteelClient(front.url) as client:
            return await client.health()

    assert asyncio.run(health())["status"] == "ok"
    assert [t.target for t in connect_proxy.tunnels] == [f"127.0.0.1:{front.port}"]
    assert [r.peer_port for r in front.received] == [connect_proxy.tunnels[0].onward_port]


def test_a_proxy_that_refuses_is_named_without_its_credentials(
    front: TLSFront, ca: tuple[trustme.CA, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = ConnectProxy(authorization="Basic dXNlcjpzM2NyZXQ=")
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca[1]))
        monkeypatch.setenv("HTTPS_PROXY", proxy.url.replace("http://", "http://user:wrong-secret@"))
        with SteelClient(front.url, max_retries=0) as client, pytest.raises(SteelUnreachableError) as rest:
            client.health()
        with pytest.raises(Exception) as page:  # what the relay meets: aiohttp's own error, read by the same mapping
            asyncio.run(browser_version(front.url.replace("https", "wss") + "/?sessionId=none"))
        said = connection_trouble(page.value, front.url, proxy_failed=True)
        expected = f"the proxy {proxy.url} named in HTTPS_PROXY could not be reached or would not open a tunnel ("
        assert str(rest.value).startswith(f"could not reach the Steel API at {front.url}: {expected}")
        assert said is not None and said.startswith(expected)
        for text in (str(rest.value), said):
            assert "wrong-secret" not in text
        assert len(proxy.refused) == 2 and front.received == []
    finally:
        proxy.close()


def test_a_proxy_that_is_not_there_is_named(front: TLSFront, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")  # discard: nothing listens
    with SteelClient(front.url, max_retries=0) as client, pytest.raises(SteelUnreachableError) as failure:
        client.health()
    assert str(failure.value).startswith(
        f"could not reach the Steel API at {front.url}: the proxy http://127.0.0.1:9 named in ALL_PROXY could not be "
        "reached or would not open a tunnel ("
    )


def test_a_certificate_for_another_host_is_refused_and_says_so(
    ca: tuple[trustme.CA, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca[0].issue_cert("steel.example").configure_cert(context)
    other = TLSFront(context)
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca[1]))
        with SteelClient(other.url, max_retries=0) as client, pytest.raises(SteelUnreachableError) as failure:
            client.health()
        assert str(failure.value) == (
            f"could not reach the Steel API at {other.url}: its TLS certificate is not trusted (IP address mismatch, "
            f"certificate is not valid for '127.0.0.1'); this machine trusts the CAs in SSL_CERT_FILE={ca[1]}; "
            "put the host the certificate names in the URL"
        )
        assert other.received == []
    finally:
        other.close()


def test_an_unreadable_ssl_cert_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(SteelUnreachableError) as failure:
        SteelClient("https://steel.example")
    assert str(failure.value) == (
        f"SSL_CERT_FILE={tmp_path / 'missing.pem'} cannot be read as CA certificates (No such file or directory); "
        "point it at a PEM bundle of the CAs to trust, or unset it to trust the system's store"
    )


@pytest.mark.skipif(sys.platform != "linux", reason="macOS and Windows verify with the OS (truststore)")
def test_without_ssl_cert_file_the_system_store_is_loaded_once_for_every_connection() -> None:
    """truststore would load the bundle again for each connection; one context holds it, loaded once."""
    context = network.ssl_context()
    assert context is network.ssl_context() is network.tls_for("wss://connect.steel.dev/")
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # the distribution's bundle


# -- the environment's proxies, as rules ---------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "url", "expected"),
    [
        ({"HTTPS_PROXY": "http://p:3128"}, "https://api.steel.dev", ("http://p:3128", "HTTPS_PROXY")),
        ({"HTTPS_PROXY": "http://p:3128"}, "wss://connect.steel.dev/", ("http://p:3128", "HTTPS_PROXY")),
        ({"HTTPS_PROXY": "http://p:3128"}, "http://127.0.0.1:4000", None),  # http goes by HTTP_PROXY
        ({"HTTP_PROXY": "http://p:3128"}, "ws://10.0.0.5:4000/", ("http://p:3128", "HTTP_PROXY")),
        ({"https_proxy": "http://low:1", "HTTPS_PROXY": "http://UP:2"}, "https://a.b", ("http://low:1", "https_proxy")),
        ({"ALL_PROXY": "p:8080"}, "https://a.b", ("http://p:8080", "ALL_PROXY")),  # a bare host:port is http
        ({"HTTPS_PROXY": "http://p:1", "ALL_PROXY": "http://q:2"}, "https://a.b", ("http://p:1", "HTTPS_PROXY")),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "steel.dev"}, "https://api.steel.dev", None),
        ({"HTTPS_PROXY": "http://p:1", "no_proxy": ".steel.dev"}, "wss://connect.steel.dev", None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "steel.dev"}, "https://notsteel.dev", ("http://p:1", "HTTPS_PROXY")),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, "https://10.1.2.3:8443", None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "a.b:8443"}, "https://a.b:8443", None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "a.b:8443"}, "https://a.b", ("http://p:1", "HTTPS_PROXY")),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "::1"}, "https://[::1]:9", None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": " "}, "https://a.b", ("http://p:1", "HTTPS_PROXY")),
        ({"HTTPS_PROXY": ""}, "https://a.b", None),  # empty is unset
    ],
)
def test_the_proxy_for_a_url_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], url: str, expected: tuple[str, str] | None
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    proxy = network.proxy_for(url)
    assert ((proxy.url, proxy.source) if proxy is not None else None) == expected


def test_a_socks_proxy_is_a_clear_error_and_credentials_are_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://me:hunter2@socks.corp:1080")
    with pytest.raises(SteelUnreachableError) as failure:
        SteelClient("https://api.steel.dev")
    assert str(failure.value) == (
        "ALL_PROXY names the proxy 'socks5://socks.corp:1080', which pytest-steel cannot go through: it connects "
        "through http:// or https:// proxies only (the page connection's WebSocket client has no SOCKS); name an "
        "HTTP proxy in ALL_PROXY, or list api.steel.dev in NO_PROXY to reach it directly"
    )
    monkeypatch.setenv("HTTPS_PROXY", "http://me:hunter2@proxy.corp:3128")
    assert repr(network.proxy_for("https://api.steel.dev")) == "Proxy('http://proxy.corp:3128' from HTTPS_PROXY)"


def test_a_page_connection_that_cannot_open_says_why_without_the_key() -> None:
    """Playwright hears only that its target closed; the relay notes why, for the connect error and the report."""
    import asyncio

    from aiohttp import ClientSession

    from pytest_steel._browser.relay import UNREACHABLE, DownloadRelay

    from ._support import closed_port_url

    upstream = closed_port_url().replace("http", "ws") + "/?apiKey=sekrit-key"
    relay = DownloadRelay()
    try:
        url, route = relay.endpoint(upstream, lambda path, local: None)

        async def connect() -> int | None:
            async with ClientSession() as http, http.ws_connect(url) as driver:
                await driver.receive(timeout=30)
                return driver.close_code

        assert asyncio.run(connect()) == 1011
    finally:
        relay.close()
    [line] = route.failures
    assert line.startswith(UNREACHABLE + ": ") and "sekrit-key" not in line, line
