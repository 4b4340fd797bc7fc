"""A PortSIP v22 REST client: sign in, refresh the token, retry what may be
retried, stay under a rate, and log each request as one JSON line.

Only the standard library: urllib with TLS verified (a CA file may be added;
--insecure turns it off, with a warning on every run). Everything the PBX
answers is input like any other: sizes are bounded, ids are checked before
they go into a path, and a message from the PBX has the request's secrets
taken out before anyone sees it.
"""

from __future__ import annotations

import json
import random
import re
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from pathlib import Path
from typing import Any, TextIO

from generator.errors import UsageError

MAX_ANSWER = 20_000_000  # bytes; a page of 100 users is far below this
RETRIES = 6
RETRYABLE = frozenset({429, 502, 503, 504})
_ID = re.compile(r"[A-Za-z0-9_=+/-]{1,128}")


class PbxError(Exception):
    """A request the PBX refused, or that could not be made: never retried further."""

    def __init__(self, status: int | None, message: str, path: str):
        self.status, self.message, self.path = status, message, path
        super().__init__(f"{status or 'no answer'}: {message}")


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


class RateCap:
    """At most `per_second` requests started per second, across threads."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.gap = 1.0 / per_second if per_second > 0 else 0.0
        self.clock, self.sleep = clock, sleep
        self.lock = threading.Lock()
        self.next = 0.0

    def wait(self) -> None:
        with self.lock:
            now = self.clock()
            start = max(now, self.next)
            self.next = start + self.gap
        if start > now:
            self.sleep(start - now)


def _retry_after(header: str | None, attempt: int) -> float:
    """Seconds to wait: the PBX's Retry-After (seconds or a date), else backoff
    with full jitter (0.2 s doubling, at most 10 s)."""
    if header:
        try:
            return min(max(float(header), 0.0), 60.0)
        except ValueError:
            try:
                return min(max(parsedate_to_datetime(header).timestamp() - time.time(), 0.0), 60.0)
            except (TypeError, ValueError):
                pass
    return random.uniform(0, min(10.0, 0.2 * 2**attempt))


def _message(raw: bytes, secrets: Iterable[str]) -> str:
    try:
        data = json.loads(raw)
        text = data.get("message") or data.get("error") or json.dumps(data) if isinstance(data, dict) else str(data)
    except ValueError:
        text = raw.decode("utf-8", "replace")
    text = " ".join(str(text).split())[:300]
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "********")
    return text


def _secrets_in(body: Any) -> list[str]:
    if isinstance(body, dict):
        return [v for k, v in body.items() if "password" in k or k == "voicemail_pin" if isinstance(v, str)] + \
            [s for v in body.values() if isinstance(v, (dict, list)) for s in _secrets_in(v)]
    if isinstance(body, list):
        return [s for v in body for s in _secrets_in(v)]
    return []


class Client:
    def __init__(self, login: Login, rate: float = 60.0, log: TextIO | None = None, timeout: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep):
        if not login.url.startswith(("https://", "http://")):
            raise UsageError(f"--pbx must be the API's URL, such as https://pbx.example.com:8887/api "
                             f"(got {login.url[:60]!r})")
        self.login = login
        self.base = login.url.rstrip("/")
        self.rate = RateCap(rate, sleep=sleep)
        self.sleep = sleep
        self.timeout = timeout
        self.log = log
        self.log_lock = threading.Lock()
        self.token_lock = threading.Lock()
        self.token: str | None = None
        self.refresh: str | None = None
        self.expires = 0.0
        self.context = self._tls()
        self.requests = 0

    def _tls(self) -> ssl.SSLContext | None:
        if not self.base.startswith("https://"):
            return None
        if self.login.insecure:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(cafile=str(self.login.ca_file) if self.login.ca_file else None)

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
        self.token = answer["access_token"]
        self.refresh = answer.get("refresh_token") if isinstance(answer.get("refresh_token"), str) else None
        expires = answer.get("expires_in")
        lifetime = float(expires) if isinstance(expires, (int, float)) and expires > 0 else 3600.0
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
        secrets = _secrets_in(body)
        for attempt in range(RETRIES + 1):
            self.rate.wait()
            started = time.monotonic()
            status, raw, retry_after = self._once(method, path, data, auth)
            self._log(method, path, status, user, attempt, started)
            if status is not None and 200 <= status < 300:
                return self._json(raw, path)
            retryable = status is None or status in RETRYABLE
            if not retryable or attempt == RETRIES:
                message = _message(raw, secrets) if raw else "the connection failed"
                raise PbxError(status, message, path)
            self.sleep(_retry_after(retry_after if status == 429 else None, attempt))
        raise AssertionError("unreachable")  # the loop returns or raises

    def _once(self, method: str, path: str, data: bytes | None, auth: bool) -> tuple[int | None, bytes, str | None]:
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if auth and self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as answer:
                return answer.status, answer.read(MAX_ANSWER + 1), None
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(64_000), exc.headers.get("Retry-After")
        except (urllib.error.URLError, HTTPException, OSError, TimeoutError):
            return None, b"", None

    def _json(self, raw: bytes, path: str) -> Any:
        if len(raw) > MAX_ANSWER:
            raise PbxError(None, f"an answer of more than {MAX_ANSWER:,} bytes", path)
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise PbxError(None, "the PBX's answer is not JSON", path) from exc

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

    def users(self, limit: int = 200_000) -> list[dict]:
        """Every user of the tenant, page by page (100 a page, the API's most)."""
        found: list[dict] = []
        while len(found) < limit:
            page = self.call("GET", f"/users?top=100&skip={len(found)}")
            items = page.get("items") if isinstance(page, dict) else None
            if not isinstance(items, list) or not items:
                break
            found += [item for item in items if isinstance(item, dict)]
            count = page.get("count")
            if len(items) < 100 or (isinstance(count, int) and len(found) >= count):
                break
        return found
