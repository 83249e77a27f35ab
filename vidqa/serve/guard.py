"""What stands between the network and vidqa's routes, for every server vidqa runs.

A server on 127.0.0.1 is reachable by every web page its user opens, so it checks where a
request comes from before anything else, outermost first:

1. `Host` must name this server: 127.0.0.1, localhost, [::1], the address it listens on, or a
   name given with `--allowed-hosts`. A page whose own name an attacker re-points at 127.0.0.1
   (DNS rebinding) sends its own name here and is refused.
2. A request sent by another site's page is refused, unless that site is listed in
   `--cors-origins`: `Origin` says which page sent it (browsers send it with every request that
   is not a plain GET), else `Sec-Fetch-Site` does (`cross-site` or `same-site`: another page;
   `same-origin`, `none`, or no header at all: the page itself, the address bar, or a program).
   The page's own files (`/`, `/static/...`) are exempt for GET and HEAD: opening the page from
   a link is fine, and a page of another site cannot read them.
3. The API key, when one is set (`Authorization: Bearer KEY`, or the cookie the page gets from
   `POST /api/session`); then body limits (413 before a large body is read whole).

Bodies are taken as JSON only with a JSON content type (`vidqa.serve.http.read_json`), so a form
or a `text/plain` "simple" request never reaches a JSON route.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.responses import JSONResponse

COOKIE = "vidqa_key"
PAGE_FILES = ("/", "/favicon.ico")  # and /static/...: the page itself, open to any GET
PUBLIC = (*PAGE_FILES, "/api/session")  # no API key needed
SAFE_METHODS = ("GET", "HEAD")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
OWN_FETCH_SITES = ("same-origin", "none")
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
               403: "permission_error", 404: "not_found_error", 405: "invalid_request_error",
               409: "invalid_request_error", 413: "invalid_request_error",
               415: "invalid_request_error", 416: "invalid_request_error",
               422: "invalid_request_error", 500: "server_error", 502: "server_error",
               503: "server_error", 507: "server_error"}


def error_response(status: int, message: str, code: str | None = None,
                   param: str | None = None, headers: dict | None = None) -> JSONResponse:
    """An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`."""
    return JSONResponse({"error": {"message": message,
                                   "type": ERROR_TYPES.get(status, "server_error"),
                                   "param": param, "code": code}}, status_code=status,
                        headers=headers)


def bearer_token(authorization: str) -> str:
    """The token of an `Authorization: Bearer TOKEN` header ("" for none)."""
    return authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""


def key_matches(token: str, key: str) -> bool:
    """Whether `token` is the API key (compared in constant time)."""
    return bool(token) and hmac.compare_digest(token.encode(), key.encode())


def mib(limit: int) -> str:
    return f"{limit / 2**20:g} MiB"


def split_host(value: str) -> tuple[str, int | None]:
    """(name, port) of a `Host` header or an origin's netloc, the name lower-cased and
    without brackets; ("", None) when it cannot be read."""
    value = value.strip().lower()
    try:
        parts = urlsplit(f"//{value}")
        return (parts.hostname or "").rstrip("."), parts.port
    except ValueError:  # a port that is not a number, an unclosed bracket
        return "", None


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address `name` spells (brackets allowed), or None for a host name."""
    try:
        return ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """Whether `host` (an address to listen on) is reached from this machine only."""
    address = _ip(host)
    return host == "localhost" or (address is not None and address.is_loopback)


class HostNames:
    """The names a request may address this server by (its `Host` header's name)."""

    def __init__(self, bound: str, allowed: Iterable[str] = ()):
        names = {*LOOPBACK_NAMES, split_host(bound)[0] or bound.strip("[]").lower()}
        allowed = [a.strip().lower() for a in allowed if a.strip()]
        self.any = "*" in allowed
        # Listening on every address (0.0.0.0, ::): reached by any of the machine's addresses
        # and by its own name. An IP address is never re-pointed by DNS, so it is safe to take.
        address = _ip(bound)
        self.any_ip = address is not None and address.is_unspecified
        if self.any_ip:
            names.update({socket.gethostname().lower(), socket.getfqdn().lower()})
        names.update(split_host(a)[0] or a.strip("[]") for a in allowed if a != "*")
        self.names = frozenset(n.rstrip(".") for n in names if n)

    def allows(self, host_header: str | None) -> bool:
        if host_header is None:  # HTTP/1.0 without Host: not a browser
            return True
        name, _port = split_host(host_header)
        if not name:
            return False
        return self.any or name in self.names or (self.any_ip and _ip(name) is not None)

    def shown(self) -> str:
        return ", ".join(sorted(f"[{n}]" if ":" in n else n for n in self.names))


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def same_origin(origin: str, host_header: str | None) -> bool:
    """Whether `origin` (scheme://name[:port]) is this server as the request addressed it."""
    if not host_header:
        return False
    try:
        parts = urlsplit(origin.strip().lower())
        origin_port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    name, port = split_host(host_header)
    return (parts.hostname.rstrip("."), origin_port or _default_port(parts.scheme)) == \
        (name, port or _default_port(parts.scheme))


def _normal_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


class TooLarge(Exception):
    """A request body went past its limit while being read."""

    def __init__(self, limit: int):
        super().__init__(limit)
        self.limit = limit


class Guard:
    """The checks above as an ASGI middleware, before any route runs (and before CORS
    answers a preflight)."""

    def __init__(self, app, *, host: str, allowed_hosts: Iterable[str] = (),
                 cors_origins: Iterable[str] = (), api_key: str | None = None,
                 max_body_bytes: int, max_upload_bytes: int, upload_prefix: str = "/api/upload/",
                 public: tuple[str, ...] = PUBLIC, page_files: tuple[str, ...] = PAGE_FILES):
        self.app = app
        self.hosts = HostNames(host, allowed_hosts)
        self.origins = frozenset(_normal_origin(o) for o in cors_origins)
        self.api_key = api_key
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes
        self.upload_prefix = upload_prefix
        self.public = public
        self.page_files = page_files

    def _page_file(self, path: str) -> bool:
        return path in self.page_files or path.startswith("/static/")

    def refusal(self, scope) -> JSONResponse | None:
        """The response refusing this request, or None to let it through."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers") or []}
        host = headers.get("host")
        if not self.hosts.allows(host):
            return error_response(
                403, f"this server answers to {self.hosts.shown()}, not to the name "
                f"'{host}' (a page that re-points its own name at this machine is refused); "
                "start it with --allowed-hosts NAME to be reached by that name",
                "host_not_allowed")
        method, path = scope.get("method", "GET"), scope["path"]
        if not (method in SAFE_METHODS and self._page_file(path)):
            origin = headers.get("origin")
            site = headers.get("sec-fetch-site")
            if origin is not None:
                foreign = not same_origin(origin, host) and \
                    _normal_origin(origin) not in self.origins
                sender = f"a page of {origin}"
            else:
                foreign = site is not None and site.lower() not in OWN_FETCH_SITES
                sender = f"a page of another site (Sec-Fetch-Site: {site})"
            if foreign:
                return error_response(
                    403, f"{sender} may not call this server; open vidqa's own page, or start "
                    "the server with --cors-origins ORIGIN to let that site in",
                    "cross_site_request")
        preflight = method == "OPTIONS" and "access-control-request-method" in headers
        if self.api_key and not preflight and path not in self.public \
                and not self._page_file(path) and not self._authorised(headers):
            return error_response(401, "a valid API key is needed: send 'Authorization: "
                                  "Bearer KEY' with the key the server was started with",
                                  "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        limit = self._limit(path)
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return error_response(413, f"the request body is {int(length):,} bytes, more than "
                                  f"this server's limit of {mib(limit)}; send less (or start "
                                  "the server with a larger limit)", "body_too_large")
        return None

    def _limit(self, path: str) -> int:
        return self.max_upload if path.startswith(self.upload_prefix) else self.max_body

    def _authorised(self, headers: dict[str, str]) -> bool:
        token = bearer_token(headers.get("authorization", ""))
        if not token:
            for part in headers.get("cookie", "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == COOKIE:
                    token = value
        return key_matches(token, self.api_key or "")

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        refused = self.refusal(scope)
        if refused is not None:
            if scope["type"] == "websocket":  # no HTTP response on a socket: close it
                return await send({"type": "websocket.close", "code": 1008})
            return await refused(scope, receive, send)
        limit, received = self._limit(scope["path"]), 0

        async def limited():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise TooLarge(limit)
            return message

        return await self.app(scope, limited, send)


def guarded(app, *, host: str, allowed_hosts: Iterable[str] = (),
            cors_origins: Iterable[str] = (), api_key: str | None = None,
            max_body_bytes: int, max_upload_bytes: int, **options):
    """`app` behind the guard, with CORS for the listed origins (inside the guard, so a
    preflight from a site not listed is refused like any of its requests)."""
    origins = tuple(cors_origins)
    inner = app
    if origins:
        from starlette.middleware.cors import CORSMiddleware

        inner = CORSMiddleware(app, allow_origins=list(origins), allow_methods=["*"],
                               allow_headers=["*"], allow_credentials=False)
    return Guard(inner, host=host, allowed_hosts=allowed_hosts, cors_origins=origins,
                 api_key=api_key, max_body_bytes=max_body_bytes,
                 max_upload_bytes=max_upload_bytes, **options)
