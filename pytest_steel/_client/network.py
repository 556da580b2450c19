"""The one network policy of every connection to a backend: which CAs are trusted, which proxy is gone through.

REST and the files API (httpx, see ``http.transport_options``) and the relay's upstream
WebSocket to a session's browser (aiohttp, see ``ws_options``) all take both from here,
so that a page connection can neither go around the proxy REST goes through nor trust
other certificates than REST does.

Trust: the PEM bundle in ``SSL_CERT_FILE`` and/or the hashed folder in ``SSL_CERT_DIR``
when either is set (as OpenSSL, curl, requests and httpx read them); else the system's
own store, as pip trusts it (``truststore`` on macOS and Windows, OpenSSL's store on
Linux): the CAs an administrator added, such as a company's TLS-inspecting proxy's, are
trusted as curl, git and the browser trust them, and a macOS Python whose OpenSSL has no
CA paths still verifies. Verification is never turned off: nothing here, nor any option,
makes an unverified connection.

Proxies: ``https_proxy``/``HTTPS_PROXY`` for https and wss, ``http_proxy``/``HTTP_PROXY``
for http and ws, else ``all_proxy``/``ALL_PROXY``; lower case first, as curl and urllib
read them; ``no_proxy``/``NO_PROXY`` lists hosts reached directly (names and their
subdomains, IP addresses, CIDR ranges, ``host:port``, ``*``). Only http:// and https://
proxies: the WebSocket client has no SOCKS, and a policy the page connection cannot
follow would be two policies again. An https or wss connection tunnels with CONNECT.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import ssl
import sys
import urllib.parse
from dataclasses import dataclass
from typing import Any

from .errors import SteelUnreachableError

CA_FILE_ENV = "SSL_CERT_FILE"
CA_DIR_ENV = "SSL_CERT_DIR"
_SECURE = ("https", "wss")
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


@dataclass(frozen=True)
class Proxy:
    """A proxy from the environment: its URL (credentials included, never shown) and the variable naming it."""

    url: str
    source: str

    def display(self) -> str:
        """The proxy's URL without its credentials: what messages say."""
        parts = urllib.parse.urlsplit(self.url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}"

    def __repr__(self) -> str:
        return f"Proxy({self.display()!r} from {self.source})"


def proxy_for(url: str) -> Proxy | None:
    """The proxy a connection to ``url`` goes through, by the environment; None: it goes directly."""
    parts = urllib.parse.urlsplit(url)
    wanted = ("https_proxy", "all_proxy") if parts.scheme in _SECURE else ("http_proxy", "all_proxy")
    found = next((hit for name in wanted if (hit := _variable(name)) is not None), None)
    if found is None:
        return None
    source, value = found
    host = (parts.hostname or "").lower()
    if _bypassed(host, parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)):
        return None
    if "://" not in value:
        value = "http://" + value  # curl's and httpx's reading of a bare host:port
    proxy = Proxy(value, source)
    scheme = urllib.parse.urlsplit(value).scheme.lower()
    if scheme not in ("http", "https") or not urllib.parse.urlsplit(value).hostname:
        raise SteelUnreachableError(
            f"{source} names the proxy {proxy.display()!r}, which pytest-steel cannot go through: it connects "
            "through http:// or https:// proxies only (the page connection's WebSocket client has no SOCKS); "
            f"name an HTTP proxy in {source}, or list {host or 'the host'} in NO_PROXY to reach it directly"
        )
    return proxy


def _variable(name: str) -> tuple[str, str] | None:
    """``name`` from the environment, lower case first (as curl and urllib prefer it); empty counts as unset."""
    for variable in (name, name.upper()):
        value = os.environ.get(variable, "").strip()
        if value:
            return variable, value
    return None


def _bypassed(host: str, port: int) -> bool:
    """Whether NO_PROXY says ``host`` (at ``port``) is reached directly."""
    found = _variable("no_proxy")
    if found is None or not host:
        return False
    address = _address(host)
    for entry in found[1].replace(" ", ",").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        name, entry_port = _split_port(entry)
        if entry_port is not None and entry_port != port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(name.strip("[]"), strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = name.lstrip("*").lstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port``, ``[v6]:port``, or no port (a bare IPv6 address or range has colons of its own)."""
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        return name, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    name, colon, port = entry.rpartition(":")
    if colon and ":" not in name and port.isdigit():
        return name, int(port)
    return entry, None


# -- trust ---------------------------------------------------------------------------


def ssl_context() -> ssl.SSLContext:
    """The verifying TLS context of every https and wss connection (made once per trust setting)."""
    return _context(os.environ.get(CA_FILE_ENV) or None, os.environ.get(CA_DIR_ENV) or None)


def tls_for(url: str) -> ssl.SSLContext:
    """What a connection to ``url`` verifies with: the policy's context, or none to trust for plain HTTP.

    Loading a CA store costs tens of milliseconds, on the way to a run's first session. A
    connection to a plain-HTTP server (the embedded one, any on loopback) needs no
    certificate; should it ever be sent to https, it fails verification instead of going unchecked.
    """
    if urllib.parse.urlsplit(url).scheme.lower() in _SECURE:
        return ssl_context()
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, with nothing trusted


def trusted() -> str:
    """What this machine trusts, in words, for messages about a certificate."""
    cafile, capath = os.environ.get(CA_FILE_ENV), os.environ.get(CA_DIR_ENV)
    given = [f"{name}={value}" for name, value in ((CA_FILE_ENV, cafile), (CA_DIR_ENV, capath)) if value]
    if given:
        return "the CAs in " + " and ".join(given)
    return f"the system's certificate store (neither {CA_FILE_ENV} nor {CA_DIR_ENV} is set)"


@functools.lru_cache(maxsize=4)
def _context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    if cafile is None and capath is None:
        return _system_store()
    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except (OSError, ssl.SSLError) as exc:
        named = f"{CA_FILE_ENV}={cafile}" if cafile else f"{CA_DIR_ENV}={capath}"
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SteelUnreachableError(
            f"{named} cannot be read as CA certificates ({why}); point it at a PEM bundle of the CAs to trust, "
            "or unset it to trust the system's store"
        ) from None


# Where Linux distributions keep their CA bundle, for a Python whose OpenSSL was built to look elsewhere
# (a standalone build): truststore's own list of candidates.
_HASHED = re.compile(r"^[0-9a-fA-F]{8}\.[0-9]$")  # a certificate in a hashed folder (c_rehash)
_CA_FILES = (
    "/etc/ssl/cert.pem",  # Alpine, Arch, Fedora, RHEL 9-10, BSD
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # Fedora, RHEL
    "/etc/pki/tls/cert.pem",  # older Fedora, RHEL, CentOS
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu
    "/etc/ssl/ca-bundle.pem",  # SUSE
)


def _system_store() -> ssl.SSLContext:
    """The system's certificate store: the OS's verifier on macOS and Windows, OpenSSL's store on Linux.

    On macOS and Windows, truststore asks the OS (the Keychain, CryptoAPI) at each handshake.
    On Linux the store is OpenSSL's own, which truststore loads again for every connection
    (100 ms and more for each page's connection on a busy machine): it is loaded here once,
    found where truststore finds it.
    """
    if sys.platform in ("darwin", "win32"):
        import truststore  # noqa: PLC0415 - only a run that reaches an https backend pays for it

        return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context = ssl.create_default_context()
    paths = ssl.get_default_verify_paths()
    capath = paths.capath if paths.capath and os.path.isdir(paths.capath) else None
    hashed = capath is not None and any(_HASHED.match(name) for name in os.listdir(capath))
    if not paths.cafile and not hashed:
        found = next((path for path in _CA_FILES if os.path.isfile(path)), None)
        if found is not None:
            context.load_verify_locations(cafile=found)
    return context


# -- the WebSocket client ------------------------------------------------------------


def ws_options(url: str) -> dict[str, Any]:
    """aiohttp ``ws_connect`` keywords that connect to ``url`` as REST does: the same trust, the same proxy.

    Plain values only (a context, a URL), so that this layer needs no aiohttp: with
    ``ClientSession(trust_env=False)`` nothing else of the environment is read. aiohttp 3.9
    and later tunnel wss through an http:// proxy with CONNECT.
    """
    options: dict[str, Any] = {"ssl": tls_for(url)}
    proxy = proxy_for(url)
    if proxy is not None:
        options["proxy"] = proxy.url  # aiohttp sends its credentials as Proxy-Authorization, on CONNECT too
    return options
