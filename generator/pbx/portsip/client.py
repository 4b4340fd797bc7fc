"""A PortSIP v22 REST client: sign in, refresh the token, retry what may be
retried, stay under a rate that adapts to the PBX's limit, and log each
request as one JSON line.

httpx, for its pool of kept-alive connections, with TLS verified (a CA file
may be added; --insecure turns it off, with a warning on every run; plain
http only when asked for) and nothing taken from the environment (no proxy,
no .netrc). Everything the PBX answers is input like any other: no redirect
leaves the PBX's origin, each request has a deadline for its whole time
(every socket wait is cut to what is left of it), an answer is streamed
and its size, depth and item count bounded, ids are checked before they go
into a path, and a message from the PBX has every secret taken out (in
each form it can take) before anyone sees it. See docs/security.md.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from generator.errors import UsageError
from generator.model import printable
from generator.pbx.base import PbxError, Refusing


@dataclass(frozen=True)
class Limits:
    """What one answer from the PBX may be. A page of 100 users, or one
    user's detail, is far below each; a hostile PBX meets them quickly."""

    bytes: int = 4_000_000
    depth: int = 32  # nesting of objects and lists
    items: int = 200_000  # values of any kind in one answer
    pages: int = 2_000  # of 100 users: 200,000 users
    seconds: float = 30.0  # one request's whole time, connecting to the last byte
    refusals: int = 50  # requests in a row (across threads) refused with 429/5xx or unanswered: then none is sent
    waiting: float = 900.0  # seconds of retry waits in one run, all threads together: then none is sent


RETRIES = 6
RETRYABLE = frozenset({429, 502, 503, 504})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
PAGE_READERS = 8  # list pages read at once once the count is known
MAX_MESSAGE = 300  # characters of the PBX's own words shown
MAX_LIFETIME = 366 * 86_400.0  # a token's expires_in past this is taken as an hour
_ID = re.compile(r"[A-Za-z0-9_=+/-]{1,128}")
_TOKEN = re.compile(r"[\x21-\x7e]{1,8192}")  # visible ASCII: nothing that can break a header


def checked_id(value: Any) -> str:
    """An id the PBX gave, fit to go into a path (/users/{id}): nothing else is."""
    if isinstance(value, str) and _ID.fullmatch(value):
        return value.replace("/", "%2F").replace("+", "%2B")
    raise PbxError(None, f"the PBX gave an id that is not one: {str(value)[:40]!r}", "")


@dataclass(frozen=True)
class Login:
    url: str  # the API base, e.g. https://pbx.example.com:8887/api
    username: str
    password: str
    domain: str
    ca_file: Path | None = None
    insecure: bool = False
    allow_http: bool = False  # plain http sends the password as it is: only when asked for


# PortSIP allows 10,000 requests a minute from v22.1.7, 5,000 before. The
# version is unknown until signed in, so the start is just under the newer
# limit: a newer PBX never answers 429, and an older one's first 429 halves
# the rate to just under its own limit (79 a second against 83).
DOCUMENTED = 10_000 / 60
START = 0.95 * DOCUMENTED


class AdaptiveRate:
    """Requests started per second, across threads: additive increase on each
    success (up to `ceiling`, --rate, and never past the start), halved on a 429 (at most once a second, however
    many requests in flight meet the same limit)."""

    def __init__(self, ceiling: float = START, start: float | None = None, increase: float = 2.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        # Never above the start: past PortSIP's highest documented limit a climb only earns 429s.
        self.ceiling = min(max(ceiling, 0.1), START)
        self.per_second = min(self.ceiling, start or START)
        self.increase = increase  # requests a second gained each second of successes
        self.clock, self.sleep = clock, sleep
        self.lock = threading.Lock()
        self.next = 0.0
        self.slowed = -math.inf
        self.slowdowns = 0

    def wait(self) -> None:
        with self.lock:
            now = self.clock()
            start = max(now, self.next)
            self.next = start + 1.0 / self.per_second
        if start > now:
            self.sleep(start - now)

    def success(self) -> None:
        with self.lock:
            self.per_second = min(self.ceiling, self.per_second + self.increase / self.per_second)

    def too_many(self) -> None:
        with self.lock:
            now = self.clock()
            if now - self.slowed < 1.0:
                return  # the same burst of 429s: one halving
            self.slowed, self.slowdowns = now, self.slowdowns + 1
            self.per_second = max(self.per_second / 2, 1.0)


def _retry_after(header: str | None, attempt: int) -> float:
    """Seconds to wait: backoff with equal jitter (half of 0.2 s doubling, at
    most 10 s, plus up to as much again at random), or the PBX's Retry-After
    (seconds or a date, at most 60 s) when it is longer: a `Retry-After: 0`
    storm still backs off."""
    backoff = min(10.0, 0.2 * 2**attempt) / 2
    backoff += random.uniform(0, backoff)
    if header:
        try:
            seconds = float(header)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(header).timestamp() - time.time()
            except (TypeError, ValueError, OverflowError):
                seconds = math.nan
        if math.isfinite(seconds):  # "nan" and "inf" parse as floats too
            return max(min(seconds, 60.0), backoff)
    return backoff


def _forms(secret: str) -> set[str]:
    """Every way a secret can appear in a PBX's answer: as it is, JSON-escaped
    (ASCII or not, with or without an escaped slash), with its spaces squeezed."""
    forms = {secret, " ".join(secret.split())}
    for ascii_only in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        forms |= {escaped, escaped.replace("/", "\\/")}
    return {form for form in forms if form}


def _mask(text: str, secrets: Iterable[str]) -> str:
    forms = sorted({form for secret in secrets if secret for form in _forms(secret)}, key=len, reverse=True)
    for form in forms:
        text = text.replace(form, "********")
    return text


_ESCAPE = re.compile(r'\\(u[0-9a-fA-F]{4}|["\\/bfnrt])')
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape(match: re.Match) -> str:
    code = match.group(1)
    return chr(int(code[1:], 16)) if code[0] == "u" else _SIMPLE[code]


def _message(raw: bytes, secrets: Iterable[str]) -> str:
    """The PBX's words, every secret masked before anything else is done to
    them (decoding, squeezing, cutting), so no form or piece of one shows."""
    secrets = [s for s in secrets if s]
    text = _mask(raw.decode("utf-8", "replace"), secrets)
    try:
        data = json.loads(text)
        if isinstance(data, dict):
            data = data.get("message") or data.get("error") or data
        # JSON, never str(): Python's repr writes ' as \' there, a form no mask matches
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    except (ValueError, RecursionError):
        pass
    for _ in range(4):  # a secret escaped once more, or with escapes json.dumps would not use
        text = _mask(text, secrets)
        plain = _ESCAPE.sub(_unescape, text)
        if plain == text:
            break
        text = plain
    text = _mask(" ".join(_mask(text, secrets).split()), secrets)
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE] + "..."
    return printable(text)


def _shared_keys(pairs: list[tuple[str, Any]]) -> dict:
    """An object whose keys are the same string objects as every other
    answer's: 5,000 users' details repeat the same few dozen keys."""
    return {sys.intern(key): value for key, value in pairs}


def _secrets_in(body: Any) -> list[str]:
    if isinstance(body, dict):
        return [v for k, v in body.items() if "password" in k or k == "voicemail_pin" if isinstance(v, str)] + \
            [s for v in body.values() if isinstance(v, (dict, list)) for s in _secrets_in(v)]
    if isinstance(body, list):
        return [s for v in body for s in _secrets_in(v)]
    return []


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:
        port = None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _origin_text(url: str) -> str:
    parts = urlsplit(url)
    return printable(f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"[:120])


def _root(exc: BaseException) -> BaseException:
    """The first cause that says what went wrong: httpx wraps the socket's and
    the TLS layer's own errors in its own."""
    seen = exc
    for _ in range(8):
        if isinstance(seen, (ssl.SSLError, socket.gaierror, ConnectionRefusedError, TimeoutError, socket.timeout)):
            return seen
        inner = seen.__cause__ or seen.__context__
        if inner is None:
            break
        seen = inner
    return exc


def _bad_location(exc: BaseException) -> bool:
    """Whether httpx refused a redirect's Location that is no URL (it parses
    one even when it follows no redirect): no try again will mend it."""
    return isinstance(exc, httpx.InvalidURL) or isinstance(exc.__context__, httpx.InvalidURL) \
        or (isinstance(exc, httpx.RemoteProtocolError) and "location header" in str(exc))


def _failure(exc: BaseException, timeout: float) -> tuple[str, bool]:
    """(what went wrong, in words; whether trying again may help) for a request with no answer."""
    reason = _root(exc)
    if isinstance(reason, ssl.SSLCertVerificationError):
        why = printable(str(reason.verify_message or reason.reason or "not verified"))
        return (f"the PBX's TLS certificate was refused: {why} (a PBX with a certificate of its own CA: pass "
                f"--ca-file FILE with that CA; the URL's host must be a name the certificate holds)", False)
    if isinstance(reason, ssl.SSLError):
        why = printable(str(reason.reason or reason.strerror or "failed"))
        return f"TLS failed: {why} (is the PBX's URL https, and the port its API's?)", False
    if isinstance(reason, (TimeoutError, socket.timeout, httpx.TimeoutException)):
        return f"no answer within {timeout:g} s", True
    if isinstance(reason, ConnectionRefusedError):
        return "the connection was refused (is the port the API's?)", True
    if isinstance(reason, socket.gaierror):
        return "the PBX's host name could not be found", False
    return "the connection failed", True


class _Deadline(threading.local):
    """The whole-request deadline of the request this thread is sending (each
    request runs in the thread that asked for it)."""

    at = math.inf


_DEADLINE = _Deadline()


def _until_deadline(timeout: float | None, late: type[Exception]) -> float:
    """A socket wait cut to what is left of the request's time: a PBX that
    drips its status line, headers or body byte by byte is cut off at the
    deadline, not after one full timeout per byte."""
    left = _DEADLINE.at - time.monotonic()
    if left <= 0:
        raise late("past the whole request's deadline")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream):
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _until_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _until_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        # the handshake's timeout is one deadline for the whole of it (CPython's ssl module)
        return _DeadlineStream(self.inner.start_tls(ssl_context, server_hostname,
                                                    _until_deadline(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own sockets, each wait cut at the request's deadline."""

    def __init__(self):
        self.inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.connect_tcp(host, port, _until_deadline(timeout, httpcore.ConnectTimeout),
                                                      local_address, socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def _transport(context: ssl.SSLContext | None) -> httpx.HTTPTransport:
    """httpx's transport over a pool whose sockets keep the whole-request
    deadline. httpx takes no network backend, so its pool is replaced by
    httpcore's own with one (tested by behaviour: a header drip is cut)."""
    transport = httpx.HTTPTransport(verify=context if context is not None else True, trust_env=False)
    transport._pool = httpcore.ConnectionPool(ssl_context=context, max_connections=32, max_keepalive_connections=32,
                                              keepalive_expiry=5.0, network_backend=_DeadlineBackend())
    return transport


def _system_context() -> ssl.SSLContext:
    """The default TLS settings trusting the system's CAs only: OpenSSL's
    compiled-in CA file and folder, never SSL_CERT_FILE or SSL_CERT_DIR (a
    variable set in CI, by a pull request's job or anyone, would add a CA
    that is trusted silently). A private CA is --ca-file's, named on the
    command line. Where OpenSSL has no such paths (Windows, some macOS
    builds), Python's own default loading is used, environment and all."""
    paths = ssl.get_default_verify_paths()
    cafile = paths.openssl_cafile if paths.openssl_cafile and os.path.isfile(paths.openssl_cafile) else None
    capath = paths.openssl_capath if paths.openssl_capath and os.path.isdir(paths.openssl_capath) else None
    # Given a file or folder, create_default_context loads only them, not the defaults the environment moves.
    return ssl.create_default_context(cafile=cafile, capath=capath)


def _check_url(url: str) -> None:
    """A URL that cannot be one is bad usage, said once, never retried as a network failure."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - read for its ValueError (a port that is no number, or past 65535)
        httpx.URL(url)
        if not parts.hostname:
            raise ValueError("no host")
    except (ValueError, httpx.InvalidURL) as exc:
        raise UsageError(f"--pbx {printable(repr(url[:60]))} is not a URL ({printable(str(exc)[:80])}): give the "
                         f"API's URL, such as https://pbx.example.com:8887/api") from exc


class Client:
    def __init__(self, login: Login, rate: float = START, log: TextIO | None = None, timeout: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep, limits: Limits | None = None):
        if not login.url.startswith(("https://", "http://")):
            raise UsageError(f"--pbx must be the API's URL, such as https://pbx.example.com:8887/api "
                             f"(got {login.url[:60]!r})")
        if login.url.startswith("http://") and not login.allow_http:
            raise UsageError(f"--pbx {printable(login.url[:60])} is plain http: the password, the token and every "
                             f"secret would cross the network as they are. Use https, or pass --allow-http to "
                             f"accept that")
        _check_url(login.url)
        self.login = login
        self.base = login.url.rstrip("/")
        self.rate = AdaptiveRate(rate, sleep=sleep)
        self.sleep = sleep
        self.limits = limits or Limits(seconds=timeout)
        self.timeout = self.limits.seconds
        self.log = log
        self.log_lock = threading.Lock()
        self.token_lock = threading.Lock()
        self.token: str | None = None
        self.refresh: str | None = None
        self.expires = 0.0
        self.context = self._tls()
        # One pool of kept-alive connections for every thread (--parallel is at most 32). Redirects are
        # followed here, within the origin; nothing is taken from the environment (no .netrc, no proxy).
        self.http = httpx.Client(transport=_transport(self.context), follow_redirects=False, trust_env=False,
                                 timeout=self.limits.seconds)
        self.requests = 0
        # The circuit breaker: a PBX that keeps refusing gets no more requests this run.
        self.breaker_lock = threading.Lock()
        self.refused_in_a_row = 0
        self.waited = 0.0
        self.refusing: str | None = None  # why nothing more is sent, once so

    def _tls(self) -> ssl.SSLContext | None:
        if not self.base.startswith("https://"):
            return None
        if self.login.insecure:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        context = _system_context()
        if self.login.ca_file is None:
            return context
        try:
            context.load_verify_locations(cafile=str(self.login.ca_file))
            return context
        except (OSError, ssl.SSLError, ValueError) as exc:
            why = "not a CA certificate in PEM form" if isinstance(exc, (ssl.SSLError, ValueError)) \
                else exc.strerror or "cannot be read"
            raise UsageError(f"--ca-file {self.login.ca_file}: {why}") from exc

    def _secrets(self, body: Any) -> list[str]:
        """What no message may show: the request's secrets, the sign-in password, the tokens."""
        return [*_secrets_in(body), self.login.password, self.token or "", self.refresh or ""]

    # ---- auth -----------------------------------------------------------------------

    def sign_in(self) -> None:
        body = {"username": self.login.username, "password": self.login.password, "domain": self.login.domain}
        answer = self._send("POST", "/auth/sign_in", body, auth=False, user=None)
        if isinstance(answer, dict) and answer.get("two_factor_enabled"):
            raise UsageError(f"the account {self.login.username!r} has two-factor authentication, which an "
                             f"unattended sync cannot answer: use an API account without it")
        self._take_token(answer)

    def _take_token(self, answer: Any) -> None:
        if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
            raise PbxError(None, "the PBX's sign-in answer holds no access token", "/auth/sign_in")
        if not _TOKEN.fullmatch(answer["access_token"]):  # CR LF in it would break (and show) a header
            raise PbxError(None, "the PBX gave an access token that is not one (not 1-8,192 visible ASCII "
                                 "characters)", "/auth/sign_in")
        self.token = answer["access_token"]
        refresh = answer.get("refresh_token")
        self.refresh = refresh if isinstance(refresh, str) and _TOKEN.fullmatch(refresh) else None
        expires = answer.get("expires_in")
        plausible = isinstance(expires, (int, float)) and not isinstance(expires, bool) and 0 < expires <= MAX_LIFETIME
        lifetime = float(expires) if plausible else 3600.0
        self.expires = time.monotonic() + max(lifetime - 30.0, lifetime / 2)

    def _renew(self, stale: str | None) -> None:
        """A new token, once, however many threads found the old one stale."""
        with self.token_lock:
            if self.token != stale and self.token is not None:
                return  # another thread renewed it already
            if self.refresh:
                try:
                    self._take_token(self._send("POST", "/auth/refresh_token", {"refresh_token": self.refresh},
                                                auth=False, user=None))
                    return
                except PbxError:
                    pass
            self.sign_in()

    # ---- requests -------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None, user: str | None = None) -> Any:
        """One API request with a valid token, retried as it may be; the JSON answer."""
        if self.token is None or time.monotonic() >= self.expires:
            self._renew(self.token)
        try:
            return self._send(method, path, body, auth=True, user=user)
        except PbxError as exc:
            if exc.status != 401:
                raise
            self._renew(self.token)
            return self._send(method, path, body, auth=True, user=user)

    def _send(self, method: str, path: str, body: Any, auth: bool, user: str | None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        for attempt in range(RETRIES + 1):
            self._closed(path)
            self.rate.wait()
            started = time.monotonic()
            status, raw, retry_after, failure = self._once(method, path, data, auth)
            self._log(method, path, status, user, attempt, started)
            if status is not None and 200 <= status < 300:
                self.rate.success()
                self._answered(True)
                return self._json(raw, path)
            if status == 429:
                self.rate.too_many()
            message = _message(raw, self._secrets(body)) if raw else failure[0]
            refused = status is None or status == 429 or status >= 500
            self._answered(not refused, path, f"{status or 'no answer'}: {message}")
            retryable = status in RETRYABLE if status is not None else failure[1]
            if not retryable or attempt == RETRIES:
                raise PbxError(status, message, path)
            self._wait(_retry_after(retry_after if status == 429 else None, attempt), path)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _closed(self, path: str) -> None:
        if self.refusing is not None:
            raise Refusing(self.refusing, path)

    def _answered(self, ok: bool, path: str = "", last: str = "") -> None:
        """Counts refused requests in a row, across threads; at `limits.refusals`
        the breaker opens: this refused request and every later one raise
        Refusing. An answered one is kept, whatever other threads did meanwhile:
        the PBX carried it out."""
        with self.breaker_lock:
            self.refused_in_a_row = 0 if ok else self.refused_in_a_row + 1
            if self.refused_in_a_row >= self.limits.refusals and self.refusing is None:
                self.refusing = (f"the PBX keeps refusing: {self.refused_in_a_row} requests in a row were refused "
                                 f"(429, 5xx) or not answered, the last {last}; nothing more is sent this run")
        if not ok:
            self._closed(path)

    def _wait(self, seconds: float, path: str) -> None:
        """A retry's wait, within the run's budget for waiting (all threads
        together): past it the breaker opens instead."""
        with self.breaker_lock:
            if self.refusing is None and self.waited + seconds > self.limits.waiting:
                self.refusing = (f"the PBX keeps refusing: retries have waited {self.waited:.0f} s this run and the "
                                 f"next would pass {self.limits.waiting:g} s; nothing more is sent this run")
            if self.refusing is None:
                self.waited += seconds
        self._closed(path)
        self.sleep(seconds)

    def _once(self, method: str, path: str, data: bytes | None,
              auth: bool) -> tuple[int | None, bytes, str | None, tuple[str, bool]]:
        """(status, body, Retry-After, (what failed, retry?) when there is no answer)."""
        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self.requests += 1
        deadline = _DEADLINE.at = time.monotonic() + self.limits.seconds
        url = self.base + path
        late = (None, b"", None, (f"no whole answer within {self.limits.seconds:g} s", True))
        try:
            for _ in range(MAX_REDIRECTS + 1):
                left = deadline - time.monotonic()
                if left <= 0:
                    return late
                with self.http.stream(method, url, content=data, headers=headers, timeout=left) as answer:
                    status = answer.status_code
                    if status in REDIRECTS and "location" in answer.headers:
                        url = self._redirect(url, answer.headers["location"], path)
                        if status in (301, 302, 303) and method != "GET":  # as browsers and urllib do
                            method, data = "GET", None
                            headers.pop("Content-Type", None)
                        continue
                    ok = 200 <= status < 300
                    raw = self._read(answer, self.limits.bytes if ok else 64_000, deadline, path, ok)
                    if raw is None:
                        return late
                    return status, raw, answer.headers.get("Retry-After"), ("", False)
            raise PbxError(None, f"the PBX redirected more than {MAX_REDIRECTS} times", path)
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError, ValueError) as exc:
            if _bad_location(exc):  # the URL was checked at the start: this is the PBX's Location
                raise PbxError(None, "the PBX redirected to a Location that is not a URL: refused", path) from exc
            if time.monotonic() >= deadline:
                return late
            return None, b"", None, _failure(exc, self.limits.seconds)
        finally:
            _DEADLINE.at = math.inf

    def _redirect(self, url: str, location: str, path: str) -> str:
        """Where a redirect points, if it may be followed; one that is no URL is refused, not retried."""
        try:
            target = self._within_origin(urljoin(url, location), path)
            httpx.URL(target)
            return target
        except (ValueError, httpx.InvalidURL) as exc:
            raise PbxError(None, f"the PBX redirected to {printable(repr(location[:80]))}, which is not a URL: "
                                 f"refused", path) from exc

    def _within_origin(self, target: str, path: str) -> str:
        """A redirect is followed only within the PBX's origin (same scheme, host
        and port): the token is never sent anywhere else, nor over http once
        https was asked for."""
        if _origin(target) != _origin(self.base):
            raise PbxError(None, f"the PBX redirected to {_origin_text(target)}, away from "
                                 f"{_origin_text(self.base)}: refused (the token goes to the PBX's own origin "
                                 f"only, and never from https to http)", path)
        return target

    def _read(self, answer: httpx.Response, most: int, deadline: float, path: str, whole: bool) -> bytes | None:
        """At most `most` bytes of the body, as sent (never decompressed), read
        as they come: a body announced or found larger is refused (`whole`) or
        cut (an error's words) before it is all read; None past the deadline
        (a PBX that drips its answer byte by byte never meets a per-read timeout)."""
        too_big = PbxError(None, f"an answer of more than {most:,} bytes", path)
        announced = answer.headers.get("content-length", "")
        if whole and announced.isdigit() and int(announced) > most:
            raise too_big
        chunks, size = [], 0
        for chunk in answer.iter_raw():
            if time.monotonic() >= deadline:
                return None
            chunks.append(chunk)
            size += len(chunk)
            if size > most:
                if whole:
                    raise too_big
                break
        return b"".join(chunks)[:most]

    def close(self) -> None:
        self.http.close()

    def _json(self, raw: bytes, path: str) -> Any:
        if not raw.strip():
            return None
        try:
            data = json.loads(raw, object_pairs_hook=_shared_keys)
        except (ValueError, RecursionError) as exc:
            raise PbxError(None, "the PBX's answer is not JSON", path) from exc
        self._check_shape(data, path)
        return data

    def _check_shape(self, data: Any, path: str) -> None:
        """An answer nested past `depth` or holding more than `items` values is
        refused before anything walks it (it could exhaust the stack or memory)."""
        level, count = [data], 0
        for _ in range(self.limits.depth + 1):
            inner = []
            for value in level:
                if isinstance(value, dict):
                    inner += value.values()
                elif isinstance(value, list):
                    inner += value
            count += len(inner)
            if count > self.limits.items:
                raise PbxError(None, f"an answer of more than {self.limits.items:,} values", path)
            if not inner:
                return
            level = inner
        raise PbxError(None, f"an answer nested more than {self.limits.depth} deep", path)

    def _log(self, method: str, path: str, status: int | None, user: str | None, attempt: int,
             started: float) -> None:
        """One JSON line per request: never a body, a token or a secret."""
        if self.log is None:
            return
        line = {"time": round(time.time(), 3), "method": method, "path": path, "status": status, "user": user,
                "attempt": attempt + 1, "ms": round((time.monotonic() - started) * 1000)}
        with self.log_lock:
            self.log.write(json.dumps(line) + "\n")
            self.log.flush()

    # ---- reading the tenant ---------------------------------------------------------

    def users(self) -> list[dict]:
        """Every user of the tenant, page by page (100 a page, the API's most).
        Stops at a short or empty page, at the PBX's `count`, or past
        `limits.pages` pages (refused: a PBX with no end to its list). Once the
        first page gives the count, the other pages are read in parallel. A
        page that is no list, or a list that ends before its `count` says, is
        refused: it would read as users gone (a prune deleting them, a create
        clashing)."""
        found: list[dict] = []
        seen: set[str] = set()
        first = self.call("GET", "/users?top=100&skip=0")
        count = _count(first)
        if not self._take_page(first, found, seen) or (count is not None and count <= len(found)):
            return _ended(found, count)
        if count is not None:
            pages = -(-count // 100)
            if pages > self.limits.pages:
                raise PbxError(None, f"the PBX's user list did not end within {self.limits.pages:,} pages", "/users")
            with ThreadPoolExecutor(max_workers=min(PAGE_READERS, pages - 1)) as pool:
                answers = pool.map(lambda skip: self.call("GET", f"/users?top=100&skip={skip}"),
                                   range(100, pages * 100, 100))
                for answer in answers:  # in order; a short page ends the list as it would one by one
                    if not self._take_page(answer, found, seen) or len(found) >= count:
                        break
            return _ended(found, count)
        for _ in range(self.limits.pages - 1):
            page = self.call("GET", f"/users?top=100&skip={len(found)}")
            count = _count(page)
            if not self._take_page(page, found, seen) or (count is not None and len(found) >= count):
                return _ended(found, count)
        raise PbxError(None, f"the PBX's user list did not end within {self.limits.pages:,} pages", "/users")

    @staticmethod
    def _take_page(page: Any, found: list[dict], seen: set[str]) -> bool:
        """Adds a page's users to `found`; whether the list may go on (a full page)."""
        items = page.get("items") if isinstance(page, dict) else None
        if not isinstance(items, list):
            raise PbxError(None, "the PBX's user list is not a list of users", "/users")
        if not items:
            return False
        if not all(isinstance(item, dict) for item in items):
            raise PbxError(None, "the PBX's user list holds an item that is not a user", "/users")
        items = items[:100]  # more than asked for would move `skip` past users never listed
        ids = {str(item.get("id")) for item in items}
        if len(ids) < len(items) or not seen.isdisjoint(ids):  # a page that does not advance
            raise PbxError(None, "the PBX's user list gives a user twice (does it ignore `skip`?)", "/users")
        seen |= ids
        found += items
        return len(items) == 100


def _count(page: Any) -> int | None:
    count = page.get("count") if isinstance(page, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _ended(found: list[dict], count: int | None) -> list[dict]:
    if count is not None and count > len(found):
        raise PbxError(None, f"the PBX's user list ends at {len(found)} users while its count says {count}", "/users")
    return found
