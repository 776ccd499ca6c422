"""THE guarded HTTP client. EVERY request to a URL that a user gave goes through here.

Workflow authors type URLs (an HTTP request step, a Slack incoming webhook, a Zapier hook, a
browser's push endpoint); the server then fetches them from inside our network. Without a
guard, "http://169.254.169.254/latest/meta-data/" or "http://localhost:6379/" in a step is a
server-side request forgery. So no action may call `requests` (or an SDK) on such a URL
directly: use `request()` here, or hand `session()` to an SDK that accepts one.

What is enforced, on the first request and again on every redirect hop:

* only http and https;
* the host is resolved once, every address it resolves to must be public, and the connection
  is made to that very address (the URL's host goes in the Host header and TLS SNI), so a
  DNS answer cannot change between the check and the connect (DNS rebinding);
* refused: loopback, private (10/8, 172.16/12, 192.168/16), link-local (169.254/16 with the
  cloud metadata address), CGNAT 100.64/10, 0.0.0.0/8, multicast, reserved, IPv6 loopback,
  ULA and link-local, IPv4-mapped IPv6 (judged by the IPv4 address inside), the ranges that
  embed IPv4 addresses (6to4, NAT64) and every other address Python does not call global;
* `settings.OUTBOUND_ALLOWLIST` (host names, `*.suffix` wildcards, IPs or CIDRs) lets an
  operator trust internal services; nothing else gets through;
* redirects are followed here, at most `max_redirects`, each hop re-checked; credentials
  (the `auth` object, Authorization, Proxy-Authorization and Cookie headers) are dropped when
  a redirect leaves the origin;
* one time budget (`timeout`) covers every hop and the body, and the body is streamed and
  abandoned past `max_bytes` (decompressed size, so a gzip bomb stops too);
* environment proxies and ~/.netrc are ignored (`trust_env = False`): a proxy would resolve
  the host itself, after our check;
* urllib3's DEBUG line for each request shows no path or query for our requests: a
  user-given URL may carry its credential there (a Zapier or Slack hook).

Why not `requests-hardened` as is: it pins the resolved address exactly as we need, but its
range filter is a closed function (no allowlist, first address only, `is_private` rather
than "not global") and it leaves redirects and body size to the caller. So the adapter here
is our own, written after its technique (substitute the checked address for the host in the
connection-pool key, keep the name for Host, SNI and certificate checks), and it reuses its
maintained list of extra special-purpose ranges.
"""

import contextvars
import ipaddress
import json as jsonlib
import logging
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests_hardened.ip_filter import EXTRA_BLOCKED_NET_RANGES
from urllib3.util.connection import allowed_gai_family

from .registry import ActionError

DEFAULT_TIMEOUT = 10
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
SCHEMES = ("http", "https")
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# Sent to the first origin only: a redirect elsewhere must not carry them.
CREDENTIAL_HEADERS = ("Authorization", "Proxy-Authorization", "Cookie")
_CHUNK = 64 * 1024

METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
}
CGNAT = ipaddress.ip_network("100.64.0.0/10")
THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


class BlockedDestination(ActionError):
    """The URL points somewhere the server must not reach: never retried."""

    def __init__(self, message):
        super().__init__(message, kind="refused")


class ResponseTooLarge(ActionError):
    def __init__(self, message):
        super().__init__(message, kind="too_large")


# -- the destination check ------------------------------------------------------------------


def blocked_reason(address) -> str | None:
    """Why an address may not be reached (e.g. "a loopback address"), or None if public."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 reaches 127.0.0.1; judge the address it stands for.
        inner = blocked_reason(ip.ipv4_mapped)
        return inner and f"{inner} mapped into IPv6"
    if ip in METADATA_ADDRESSES:
        return "the cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified or ip in THIS_NETWORK:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip in CGNAT:
        return "a carrier-grade NAT (100.64/10) address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if any(ip in net for net in EXTRA_BLOCKED_NET_RANGES):
        return "a special-purpose address"
    if not ip.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True)
class Allowlist:
    hosts: frozenset
    suffixes: tuple
    networks: tuple

    @classmethod
    def from_settings(cls):
        entries = getattr(settings, "OUTBOUND_ALLOWLIST", None) or []
        if isinstance(entries, str):  # tolerate "a,b" straight from an environment variable
            entries = entries.split(",")
        hosts, suffixes, networks = set(), [], []
        for entry in (str(e).strip().lower() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                if entry.startswith("*."):
                    suffixes.append(entry[1:])
                else:
                    hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(suffixes), tuple(networks))

    def trusts_host(self, host):
        host = host.lower().rstrip(".")
        return host in self.hosts or any(host.endswith(suffix) for suffix in self.suffixes)

    def trusts_address(self, ip):
        candidates = [ip]
        if ip.version == 6 and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        return any(
            c in net for c in candidates for net in self.networks if c.version == net.version
        )


def _shown(ip):
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return f"::ffff:{ip.ipv4_mapped}"
    return str(ip)


def _literal(host):
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def resolve(host, port):
    """Every address `host` resolves to, in the resolver's order (an IP literal: itself)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, family=allowed_gai_family(), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ActionError(f"cannot resolve host '{host}': {exc}", kind="connection") from None
    except TimeoutError:
        raise ActionError(f"resolving host '{host}' timed out", kind="timeout") from None
    addresses = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            ip = ipaddress.ip_address(sockaddr[0].split("%")[0])  # drop an IPv6 zone id
            if ip not in addresses:
                addresses.append(ip)
    if not addresses:
        raise ActionError(f"host '{host}' has no internet address", kind="connection")
    return addresses


def check_destination(host, port):
    """The address to connect to for host:port, or BlockedDestination.

    A host that resolves to several addresses is refused if any one of them is not public:
    which one a later connection would use is not ours to choose.
    """
    if not host:
        raise BlockedDestination("refused: the URL has no host")
    allowlist = Allowlist.from_settings()
    addresses = resolve(host, port)
    if allowlist.trusts_host(host):
        return addresses[0]
    for ip in addresses:
        reason = blocked_reason(ip)
        if reason and not allowlist.trusts_address(ip):
            literal = _literal(host)
            via = "" if literal == ip else f"{host} resolves to "
            raise BlockedDestination(
                f"refused: {via}{_shown(ip)}, {reason} "
                "(an operator may trust it in OUTBOUND_ALLOWLIST)"
            )
    return addresses[0]


def check_url(url):
    """The scheme and host of a URL, checked without any network use (for test mode and
    before each hop): the scheme must be http(s), and an IP literal host must be allowed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except (ValueError, TypeError):
        raise ActionError("the URL is not valid", kind="invalid_config") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise BlockedDestination(
            f"refused: only http and https URLs are allowed, not '{scheme or 'no scheme'}'"
        )
    host = parts.hostname or ""
    if not host:
        raise BlockedDestination("refused: the URL has no host")
    literal = _literal(host)
    if literal is not None:
        check_destination(host, port or (443 if scheme == "https" else 80))
    return scheme, host, port or (443 if scheme == "https" else 80)


# -- logging without the path -------------------------------------------------------------

_sending = contextvars.ContextVar("guarded_http_sending", default=False)
_REQUEST_LINE = '%s://%s:%s "%s %s %s" %s %s'  # urllib3.connectionpool's DEBUG message


class _HidePath(logging.Filter):
    def filter(self, record):
        if _sending.get() and record.msg == _REQUEST_LINE and len(record.args or ()) == 8:
            args = list(record.args)
            args[4] = "/(path hidden)"
            record.args = tuple(args)
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_HidePath())


# -- the adapter: check, then connect to the checked address ----------------------------------


class GuardedAdapter(HTTPAdapter):
    """An HTTPAdapter that connects only to checked addresses (see the module docstring)."""

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        scheme, host = host_params["scheme"], host_params["host"]
        if scheme not in SCHEMES:
            raise BlockedDestination(
                f"refused: only http and https URLs are allowed, not '{scheme}'"
            )
        port = host_params["port"] or (443 if scheme == "https" else 80)
        address = check_destination(host, port)
        # Copy: the headers object may be shared with the caller (or a redirect's source).
        request.headers = CaseInsensitiveDict(request.headers or {})
        name = f"[{host}]" if ":" in host else host
        request.headers["Host"] = name if host_params["port"] is None else f"{name}:{port}"
        if scheme == "https":
            # The certificate and SNI are for the name, not for the address we connect to.
            pool_kwargs["assert_hostname"] = host
            pool_kwargs["server_hostname"] = host
        host_params["host"] = f"[{address}]" if address.version == 6 else str(address)
        return host_params, pool_kwargs

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        # A proxy would resolve the name itself, after our check.
        token = _sending.set(True)
        try:
            return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert)
        finally:
            _sending.reset(token)

    def get_connection(self, url, proxies=None):  # pragma: no cover - the unpinned legacy path
        raise NotImplementedError("use get_connection_with_tls_context (requests >= 2.32.2)")


def session(*, max_redirects=MAX_REDIRECTS) -> requests.Session:
    """A requests.Session whose every request (and redirect) is checked as above, for SDKs
    that take a session (pywebpush). It does not cap the response size: the SDK reads it."""
    guarded = requests.Session()
    guarded.trust_env = False
    guarded.max_redirects = max_redirects
    for prefix in ("http://", "https://"):
        guarded.mount(prefix, GuardedAdapter())
    return guarded


# -- request(): redirects, budget and size cap ----------------------------------------------


@dataclass
class GuardedResponse:
    status: int
    headers: CaseInsensitiveDict
    body: bytes
    url: str
    elapsed: float  # seconds, all hops included
    redirects: int = 0

    @property
    def content_type(self):
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    @property
    def is_json(self):
        kind = self.content_type
        return kind == "application/json" or kind.endswith("+json")

    @property
    def text(self):
        charset = requests.utils.get_encoding_from_headers(self.headers) or "utf-8"
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def json(self):
        return jsonlib.loads(self.text)


class _Budget:
    def __init__(self, seconds, method, host):
        self.seconds = float(seconds)
        self.started = time.monotonic()
        self.deadline = self.started + self.seconds
        self.what = f"{method} {host}"

    def remaining(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.expired()
        return left

    def expired(self):
        return ActionError(
            f"{self.what} did not complete within {self.seconds:g} seconds", kind="timeout"
        )

    def elapsed(self):
        return time.monotonic() - self.started


def _origin(url):
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def _keeps_credentials(old_url, new_url):
    """Same scheme, host and port; or the same host upgraded from http to https."""
    old, new = _origin(old_url), _origin(new_url)
    if old == new:
        return True
    return old[1] == new[1] and old[0] == "http" and new[0] == "https" and old[2] == 80


def _redirected_method(status, method):
    # What browsers (and requests) do: 303 becomes GET, 301/302 turn a POST into a GET.
    if status == 303 and method != "HEAD":
        return "GET"
    if status in (301, 302) and method == "POST":
        return "GET"
    return method


def _read_body(response, max_bytes, budget):
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(
            f"{budget.what} answered with {declared} bytes, more than the {max_bytes} allowed"
        )
    raw, chunks, size = response.raw, [], 0
    while True:
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        if sock is not None:
            # Each read waits at most for what is left of the budget, so a server that
            # trickles its body cannot stretch the total time.
            sock.settimeout(budget.remaining())
        elif time.monotonic() > budget.deadline:
            raise budget.expired()
        chunk = raw.read1(_CHUNK, decode_content=True)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLarge(
                f"{budget.what}: the response passed the {max_bytes} bytes allowed; stopped reading"
            )
        chunks.append(chunk)


def _send(client, prepared, budget, stream=True):
    try:
        left = budget.remaining()
        return client.send(prepared, timeout=(left, left), allow_redirects=False, stream=stream)
    except requests.Timeout:
        raise budget.expired() from None
    except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL) as exc:
        raise ActionError(f"{budget.what}: {exc}", kind="invalid_config") from None
    except requests.exceptions.InvalidSchema as exc:
        raise BlockedDestination(f"refused: {exc}") from None
    except requests.ConnectionError as exc:
        raise ActionError(
            f"{budget.what} could not connect: {_cause(exc)}", kind="connection"
        ) from None
    except requests.RequestException as exc:
        raise ActionError(f"{budget.what} failed: {_cause(exc)}", kind="connection") from None


def _cause(exc):
    """The innermost reason, without the URL (which may carry a secret path or query)."""
    inner, seen = exc, set()
    while id(inner) not in seen:
        seen.add(id(inner))
        reason = getattr(inner, "reason", None)
        first = inner.args[0] if inner.args else None
        nested = next(
            (
                candidate
                for candidate in (reason, first, inner.__cause__, inner.__context__)
                if isinstance(candidate, BaseException)
            ),
            None,
        )
        if nested is None:
            break
        inner = nested
    if isinstance(inner, OSError) and inner.strerror:
        return inner.strerror
    return type(inner).__name__


def request(
    method,
    url,
    *,
    headers=None,
    params=None,
    json=None,
    data=None,
    auth=None,
    timeout=DEFAULT_TIMEOUT,
    max_bytes=None,
    max_redirects=MAX_REDIRECTS,
    allow_redirects=True,
) -> GuardedResponse:
    """Send one request through the guard and read the whole (capped) response.

    `timeout` is the total budget in seconds for every hop and the body. Errors are
    ActionErrors: BlockedDestination (refused), timeout, connection, too_large, or
    client_error for too many redirects. Error messages name the host, never the full URL.
    `max_bytes` defaults to settings.OUTBOUND_MAX_RESPONSE_BYTES (5 MiB).
    """
    if max_bytes is None:
        max_bytes = getattr(settings, "OUTBOUND_MAX_RESPONSE_BYTES", DEFAULT_MAX_BYTES)
    method = method.upper()
    _scheme, host, _port = check_url(url)
    budget = _Budget(timeout, method, host)
    headers = dict(headers or {})
    body = {"json": json, "data": data}
    with session(max_redirects=max_redirects) as client:
        for hop in range(max_redirects + 1):
            prepared = client.prepare_request(
                requests.Request(
                    method,
                    url,
                    headers=headers,
                    params=params if hop == 0 else None,
                    auth=auth,
                    **body,
                )
            )
            response = _send(client, prepared, budget)
            try:
                location = response.headers.get("Location")
                if allow_redirects and response.status_code in REDIRECT_STATUSES and location:
                    if hop == max_redirects:
                        raise ActionError(
                            f"{budget.what}: more than {max_redirects} redirects",
                            kind="client_error",
                        )
                    next_url = urljoin(prepared.url, location)
                    _scheme, next_host, _port = check_url(next_url)
                    if not _keeps_credentials(prepared.url, next_url):
                        auth = None
                        headers = {
                            k: v for k, v in headers.items() if k.title() not in CREDENTIAL_HEADERS
                        }
                    new_method = _redirected_method(response.status_code, method)
                    if new_method != method:
                        body = {"json": None, "data": None}
                        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                    method, url = new_method, next_url
                    budget.what = f"{method} {next_host}"
                    continue
                content = _read_body(response, max_bytes, budget)
            except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
                raise budget.expired() from None
            except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
                raise ActionError(
                    f"{budget.what}: the response broke off ({_cause(exc)})", kind="connection"
                ) from None
            finally:
                response.close()
            return GuardedResponse(
                status=response.status_code,
                headers=CaseInsensitiveDict(response.headers),
                body=content,
                url=prepared.url,
                elapsed=budget.elapsed(),
                redirects=hop,
            )
    raise AssertionError("unreachable")  # pragma: no cover
