"""plan and apply against a hostile PBX or a man in the middle (issue 16): a
small HTTP(S) server on 127.0.0.1 whose every answer a test scripts.

Nothing here waits on a real limit: the client's limits (time, size, pages)
are made small through its parameters.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import ROOT, run_module
from fakepbx import ACCOUNT, FakeServer

from generator.pbx.base import PbxError
from generator.pbx.portsip.client import Client, Limits, Login

# The example without its online_busy rules, which the v22 API cannot express (as in test_sync.py).
ROSTER = "\n".join(line for line in (ROOT / "roster.example.yaml").read_text("utf-8").splitlines()
                   if "online_busy_forward_rule" not in line) + "\n"
PASSWORD = "Adm1n-Sync-Pa55word"
SIGNED_IN = {"access_token": "good-token", "refresh_token": "good-refresh", "expires_in": 3600}
NO_USERS = {"count": 0, "items": []}


class Hostile(ThreadingHTTPServer):
    """Answers each request with `script(handler, method, path, body)`: a
    (status, body, headers) tuple, or None when the script answered itself."""

    daemon_threads = True

    def __init__(self, script, tls: ssl.SSLContext | None = None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self.seen: list[tuple[str, str, str | None]] = []  # (method, path, Authorization)
        self.scheme = "https" if tls else "http"
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)

    @property
    def origin(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    @property
    def url(self) -> str:
        return self.origin + "/api"

    def __enter__(self) -> Hostile:
        threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Hostile

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._go("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._go("POST")

    def _go(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((method, self.path, self.headers.get("Authorization")))
        got = self.server.script(self, method, self.path, body)
        if got is not None:
            self.send(*got)

    def send(self, status: int, body: object = None, headers: dict | None = None) -> None:
        raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)


def signed_in(rest, sign_in=SIGNED_IN):
    """A script that signs anyone in and answers the rest with `rest`."""
    def script(handler, method, path, body):
        if path == "/api/auth/sign_in":
            return 200, sign_in
        return rest(handler, method, path, body)
    return script


def client(url: str, **limits) -> Client:
    login = Login(url, "admin", PASSWORD, "tenant.example", allow_http=url.startswith("http://"))
    return Client(login, sleep=lambda seconds: None, limits=Limits(**limits) if limits else None)


def plan(url: str, *args: str, cwd: Path, password: str = PASSWORD):
    (cwd / "roster.yaml").write_text(ROSTER, "utf-8")
    return run_module("plan", "roster.yaml", "--pbx", url, "--username", "admin", "--domain", "tenant.example",
                      *args, cwd=cwd, env={"PORTSIP_PASSWORD": password})


def no_traceback(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr


# ---- 1. the token never leaves the PBX's origin --------------------------------------


def test_a_redirect_to_another_host_is_refused_and_the_token_stays(tmp_path):
    with Hostile(lambda h, m, p, b: (200, {"count": 1, "items": [{"id": "x", "name": "evil"}]})) as other:
        target = other.origin + "/api/users"
        with Hostile(signed_in(lambda h, m, p, b: (302, None, {"Location": target}))) as pbx:
            with pytest.raises(PbxError) as caught:
                client(pbx.url).users()
            result = plan(pbx.url, "--allow-http", cwd=tmp_path)
    assert other.seen == []  # not even asked: nothing of ours, the token least of all, went there
    assert other.origin in caught.value.message and "redirect" in caught.value.message
    assert result.returncode == 2 and other.origin in result.stderr and "good-token" not in result.stderr


def test_a_redirect_within_the_pbx_is_followed(tmp_path):
    def script(handler, method, path, body):
        if path.startswith("/api/users?"):
            return 301, None, {"Location": "/api/v2" + path.removeprefix("/api")}
        return 200, {"count": 1, "items": [{"id": "u1", "name": "kept"}]}
    with Hostile(signed_in(script)) as pbx:
        assert [u["name"] for u in client(pbx.url).users()] == ["kept"]
        assert pbx.seen[-1][2] == "Bearer good-token"


# ---- 2. no secret in a message from the PBX, in any form -------------------------------


def _pieces(secret: str, size: int = 6) -> list[str]:
    return [secret[i:i + size] for i in range(len(secret) - size + 1)]


@pytest.mark.parametrize("answer", [
    {"message": "x" * 279 + f" password: {PASSWORD}"},  # cut at 300 inside the secret
    {"detail": {"password": PASSWORD, "note": "x" * 400}},  # no message: the whole answer, JSON again
    {"message": "your password " + json.dumps(PASSWORD).replace("A", "\\u0041") + " is wrong"},
    f"<html>{'y' * 280} {PASSWORD}</html>",  # not JSON at all
], ids=["cut", "json-again", "escaped", "not-json"])
def test_a_secret_the_pbx_quotes_back_is_never_shown(answer):
    raw = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
    with Hostile(signed_in(lambda h, m, p, b: (422, raw))) as pbx, pytest.raises(PbxError) as caught:
        client(pbx.url).users()
    message = caught.value.message
    assert not any(piece in message for piece in _pieces(PASSWORD)), message


@pytest.mark.parametrize(("secret", "answer"), [
    ('Pä55 "quoted"\\ wörd/é', lambda sent: {"rejected": sent}),  # echoed as JSON: escaped once more
    ("correct  horse\tbattery staple", lambda sent: {"message": "wrong credentials for " + sent["password"]}),
], ids=["json-escaped", "spaced"])
def test_a_sign_in_password_in_any_form_is_masked(secret, answer):
    with Hostile(lambda h, m, p, body: (401, answer(json.loads(body)))) as pbx, pytest.raises(PbxError) as caught:
        Client(Login(pbx.url, "admin", secret, "t", allow_http=True), sleep=lambda s: None).sign_in()
    message = caught.value.message
    squeezed = " ".join(secret.split())
    assert not any(piece in message for form in (secret, squeezed, json.dumps(secret)[1:-1])
                   for piece in _pieces(form)), message


def test_the_sign_in_password_is_masked_in_any_later_error():
    answer = signed_in(lambda h, m, p, b: (500, {"message": f"db error near '{PASSWORD}'"}))
    with Hostile(answer) as pbx, pytest.raises(PbxError) as caught:
        client(pbx.url).users()
    assert PASSWORD not in caught.value.message and "********" in caught.value.message


def test_control_and_bidi_characters_in_a_pbx_message_are_escaped(tmp_path):
    words = "bad \x1b]0;owned\x07 name \u202egnp.exe \x85 end"
    with Hostile(signed_in(lambda h, m, p, b: (422, {"message": words}))) as pbx:
        result = plan(pbx.url, "--allow-http", cwd=tmp_path)
    assert result.returncode == 2
    assert not any(ch in result.stderr for ch in "\x1b\x07\u202e\x85") and "\\u202e" in result.stderr


# ---- 3. plain http only when asked for ---------------------------------------------------


def test_plain_http_is_refused_unless_allowed_and_then_warned_about(tmp_path):
    with FakeServer() as pbx:
        refused = plan(pbx.url, cwd=tmp_path, password=ACCOUNT["password"])
        assert refused.returncode == 2 and "--allow-http" in refused.stderr
        assert pbx.state.requests == []  # the password never left
        login = ["--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"]]
        allowed = run_module("plan", "roster.yaml", "--pbx", pbx.url, "--allow-http", *login, cwd=tmp_path,
                             env={"PORTSIP_PASSWORD": ACCOUNT["password"]})
    assert allowed.returncode == 0, allowed.stderr
    assert "warning: --allow-http" in allowed.stderr and "plain http" in allowed.stderr


# ---- 4. resources: size, shape, changes, pages, time ---------------------------------------


def test_an_answer_too_big_deep_or_many_is_refused():
    cases = [(b'{"items": ["' + b"x" * 5000 + b'"]}', {"bytes": 1000}, "bytes"),
             (b"[" * 40 + b"]" * 40, {}, "deep"),
             (json.dumps({"items": [{}] * 3000}).encode(), {"items": 1000}, "values")]
    for raw, limits, words in cases:
        with Hostile(signed_in(lambda h, m, p, b, raw=raw: (200, raw))) as pbx, pytest.raises(PbxError) as caught:
            client(pbx.url, **limits).users()
        assert words in caught.value.message


def test_a_value_nested_980_deep_is_a_clear_error(tmp_path):
    deep = b'{"name": "maria.lopez", "extension_number": "0101", "display_name": ' + b"[" * 980 + b"]" * 980 + b"}"

    def script(handler, method, path, body):
        if path.startswith("/api/users?"):
            return 200, {"count": 1, "items": [{"id": "u1", "name": "maria.lopez"}]}
        return 200, deep if path == "/api/users/u1" else NO_USERS
    with Hostile(signed_in(script)) as pbx:
        result = plan(pbx.url, "--allow-http", cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 2 and "nested" in result.stderr


def test_one_value_makes_one_change_however_many_places_it_differs(tmp_path):
    with FakeServer() as pbx:
        login = ["--pbx", pbx.url, "--allow-http", "--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"]]
        env = {"PORTSIP_PASSWORD": ACCOUNT["password"]}
        (tmp_path / "roster.yaml").write_text(ROSTER, "utf-8")
        assert run_module("apply", "roster.yaml", "--yes", *login, cwd=tmp_path, env=env).returncode == 0
        maria = next(u for u in pbx.state.users.values() if u["name"] == "maria.lopez")
        maria["display_name"] = [{}] * 20_000  # 20,000 leaves, each a "change" before
        result = run_module("plan", "roster.yaml", "--format", "json", *login, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    changes = [c for u in json.loads(result.stdout)["users"] for c in u["changes"]]
    assert [c["field"] for c in changes] == ["display_name"]


def test_a_user_list_that_does_not_advance_stops():
    asked = []

    def items(handler, method, path, body):  # the same page whatever `skip` says, with no end
        asked.append(path)
        if len(asked) > 20:
            return 500, {"message": "the test's own stop"}
        return 200, {"items": [{"id": f"u{i}", "name": f"n{i}"} for i in range(100)]}
    with Hostile(signed_in(items)) as pbx, pytest.raises(PbxError) as caught:
        client(pbx.url).users()
    assert "twice" in caught.value.message and len(asked) == 2


def test_a_user_list_of_non_objects_stops():
    asked = []

    def items(handler, method, path, body):
        asked.append(path)
        if len(asked) > 20:
            return 500, {"message": "the test's own stop"}
        return 200, {"count": 1000, "items": [1] * 100}
    with Hostile(signed_in(items)) as pbx, pytest.raises(PbxError) as caught:
        client(pbx.url).users()
    assert "not a user" in caught.value.message and len(asked) == 1


def test_a_user_list_without_end_stops_at_the_page_cap():
    def items(handler, method, path, body):  # new users on every page, forever
        skip = int(path.rpartition("skip=")[2])
        return 200, {"items": [{"id": f"u{skip + i}", "name": f"n{skip + i}"} for i in range(100)]}
    with Hostile(signed_in(items)) as pbx, pytest.raises(PbxError) as caught:
        client(pbx.url, pages=5).users()
    assert "5 pages" in caught.value.message and len(pbx.seen) == 1 + 5


def test_the_count_ends_the_list():
    def items(handler, method, path, body):
        skip = int(path.rpartition("skip=")[2])
        return 200, {"count": 200, "items": [{"id": f"u{skip + i}", "name": f"n{skip + i}"} for i in range(100)]}
    with Hostile(signed_in(items)) as pbx:
        assert len(client(pbx.url).users()) == 200
    assert len(pbx.seen) == 1 + 2


# A byte every 20 ms: each read is quick, the whole would take 20 s. Once
# with the body dripped, once with the status line and headers dripped.
DRIPS = {"body": (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", b" " * 1000),
         "head": (b"", b"HTTP/1.1 200 OK\r\nX-Drip: " + b"a" * 1000 + b"\r\nContent-Length: 2\r\n\r\n{}")}


@pytest.mark.parametrize("part", DRIPS)
def test_a_dripping_answer_is_cut_at_the_whole_request_deadline(part):
    stop = threading.Event()
    answers = []
    at_once, dripped = DRIPS[part]

    def script(handler, method, path, body):
        if answers:  # the second try is quick
            return 200, {"count": 0, "items": []}
        answers.append(path)
        try:
            handler.wfile.write(at_once)
            for byte in dripped:
                if stop.wait(0.02):
                    return None
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
        except OSError:
            return None
        return None
    with Hostile(signed_in(script)) as pbx:
        started = time.monotonic()
        try:
            assert client(pbx.url, seconds=0.5).users() == []
        finally:
            stop.set()
        assert time.monotonic() - started < 10  # cut at 0.5 s and retried, not read for 20 s
    assert len(answers) == 1 and len(pbx.seen) == 3  # sign-in, the dripped try, the retry


# ---- 5. no traceback, no secret ------------------------------------------------------------


def test_retry_after_nan_is_a_plain_wait(tmp_path):
    told = []

    def script(handler, method, path, body):
        if not told:
            told.append(path)
            return 429, {"message": "slow down"}, {"Retry-After": "nan"}
        return 200, NO_USERS
    with Hostile(signed_in(script)) as pbx:
        result = plan(pbx.url, "--allow-http", cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 0, result.stderr


def test_an_expires_in_of_401_digits_is_taken_as_an_hour(tmp_path):
    raw = b'{"access_token": "good-token", "expires_in": ' + b"9" * 401 + b"}"
    with Hostile(signed_in(lambda h, m, p, b: (200, NO_USERS), raw)) as pbx:
        result = plan(pbx.url, "--allow-http", cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 0, result.stderr


def test_an_access_token_with_cr_lf_is_refused_unseen(tmp_path):
    token = "secret-token-part\r\nX-Injected: 1"
    with Hostile(signed_in(lambda h, m, p, b: (200, NO_USERS), {"access_token": token})) as pbx:
        result = plan(pbx.url, "--allow-http", cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 2 and "access token" in result.stderr
    assert "secret-token-part" not in result.stdout + result.stderr
    assert all(auth is None for _, _, auth in pbx.seen)


def test_a_missing_or_unreadable_ca_file_is_a_clear_error(tmp_path):
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("this is no certificate\n")
    for ca_file, words in ((tmp_path / "missing.pem", "No such file"), (not_pem, "PEM")):
        result = plan("https://127.0.0.1:9/api", "--ca-file", str(ca_file), cwd=tmp_path)
        no_traceback(result)
        assert result.returncode == 2 and "--ca-file" in result.stderr and words in result.stderr


# ---- 6. TLS: a certificate problem is named ------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Self-signed (certificate, key) pairs made here: one for 127.0.0.1, one for another name."""
    if shutil.which("openssl") is None:
        if os.environ.get("CI"):
            pytest.fail("openssl is missing in CI: the TLS tests must run there")
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("certs")
    made = {}
    for name, alt in (("ip", "IP:127.0.0.1"), ("other", "DNS:pbx.other.invalid")):
        cert, key = folder / f"{name}.pem", folder / f"{name}.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=test PBX",
                        "-addext", f"subjectAltName={alt}"], check=True, capture_output=True)
        made[name] = (cert, key)
    return made


def tls(certs, name: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certs[name])
    return context


def test_an_unknown_ca_is_named_and_points_at_ca_file(certs, tmp_path):
    with Hostile(signed_in(lambda h, m, p, b: (200, NO_USERS)), tls(certs, "ip")) as pbx:
        result = plan(pbx.url, cwd=tmp_path)
    assert result.returncode == 2
    assert "certificate" in result.stderr and "--ca-file" in result.stderr
    assert "the connection failed" not in result.stderr


def test_a_wrong_host_name_is_named(certs, tmp_path):
    cert = certs["other"][0]
    with Hostile(signed_in(lambda h, m, p, b: (200, NO_USERS)), tls(certs, "other")) as pbx:
        result = plan(pbx.url, "--ca-file", str(cert), cwd=tmp_path)
    assert result.returncode == 2 and "certificate" in result.stderr and "127.0.0.1" in result.stderr


def test_a_trusted_ca_file_signs_in(certs, tmp_path):
    with Hostile(signed_in(lambda h, m, p, b: (200, NO_USERS)), tls(certs, "ip")) as pbx:
        result = plan(pbx.url, "--ca-file", str(certs["ip"][0]), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "7 to create" in result.stdout
    assert "certificate" not in result.stderr and "insecure" not in result.stderr  # (the demo key is warned of)


def test_no_downgrade_from_https_to_http(certs, tmp_path):
    with Hostile(lambda h, m, p, b: (200, NO_USERS)) as plain:
        down = plain.origin + "/api/users"
        with Hostile(signed_in(lambda h, m, p, b: (307, None, {"Location": down})), tls(certs, "ip")) as pbx:
            result = plan(pbx.url, "--ca-file", str(certs["ip"][0]), cwd=tmp_path)
    assert result.returncode == 2 and plain.origin in result.stderr
    assert plain.seen == []


# ---- 6. a second review (items 1-6) ----------------------------------------------------------

QUOTED = "Ab'c\"d1!x"  # both quotes: Python's repr writes one of them escaped


def _escaped(secret: str) -> str:
    return "".join(f"\\u{ord(ch):04x}" for ch in secret)


@pytest.mark.parametrize("shape", [
    lambda s: b'{"message": ["bad: ' + s.encode() + b'"]}',
    lambda s: b'{"message": {"pw": "' + s.encode() + b'"}}',
    lambda s: b'{"error": [{"pw": "' + s.encode() + b'", "n": 1}]}',
], ids=["list", "object", "error-list"])
def test_a_password_in_a_message_list_or_object_is_masked(shape):
    raw = shape(_escaped(QUOTED))
    with Hostile(lambda h, m, p, b: (401, raw)) as pbx, pytest.raises(PbxError) as caught:
        Client(Login(pbx.url, "admin", QUOTED, "t", allow_http=True), sleep=lambda s: None).sign_in()
    message = caught.value.message
    assert "********" in message and not any(
        piece in message for form in (QUOTED, repr(QUOTED)[1:-1], json.dumps(QUOTED)[1:-1])
        for piece in _pieces(form, 5)), message


def test_a_users_password_in_a_message_object_is_masked():
    raw = b'{"message": {"password": ["' + _escaped(QUOTED).encode() + b'"]}}'
    with Hostile(signed_in(lambda h, m, p, b: (422, raw))) as pbx, pytest.raises(PbxError) as caught:
        client(pbx.url).call("POST", "/users", {"name": "u", "password": QUOTED})
    assert "********" in caught.value.message and not any(
        piece in caught.value.message for piece in _pieces(repr(QUOTED)[1:-1], 5)), caught.value.message


def test_a_pbx_that_keeps_refusing_gets_no_more_requests():
    with Hostile(signed_in(lambda h, m, p, b: (503, {"message": "down"}))) as pbx:
        pbc = client(pbx.url, refusals=5)
        with pytest.raises(PbxError) as caught:
            pbc.users()
        asked = len(pbx.seen)
        with pytest.raises(PbxError) as again:
            pbc.call("GET", "/users/u1")
    assert "keeps refusing" in caught.value.message and "503: down" in caught.value.message
    assert asked == 1 + 5 and len(pbx.seen) == asked  # nothing sent once the breaker is open
    assert "nothing more is sent" in again.value.message


def test_retry_waits_are_bounded_per_run():
    waits = []
    with Hostile(signed_in(lambda h, m, p, b: (429, {"message": "slow"}, {"Retry-After": "60"}))) as pbx:
        pbc = Client(Login(pbx.url, "admin", PASSWORD, "t", allow_http=True), sleep=waits.append,
                     limits=Limits(waiting=150))
        with pytest.raises(PbxError) as caught:
            pbc.users()
    retries = [w for w in waits if w >= 1]  # the rate's own waits between requests are shorter
    assert retries == [60.0, 60.0] and "keeps refusing" in caught.value.message and "150 s" in caught.value.message


def test_a_retry_after_of_0_still_backs_off():
    waits = []
    with Hostile(signed_in(lambda h, m, p, b: (429, {"message": "slow"}, {"Retry-After": "0"}))) as pbx:
        pbc = Client(Login(pbx.url, "admin", PASSWORD, "t", allow_http=True), sleep=waits.append)
        with pytest.raises(PbxError):
            pbc.users()
    # at least half of each backoff (0.2 s doubling): 0.1 + 0.2 + ... + 3.2 (the rate's waits come on top)
    assert sum(waits) >= 6.3, waits


def test_apply_stops_cleanly_when_the_pbx_keeps_refusing(tmp_path, monkeypatch, quick_retries):
    import functools

    from generator.pbx.portsip import client as module
    monkeypatch.setattr(module, "Limits", functools.partial(Limits, refusals=3))

    def script(handler, method, path, body):
        return (200, NO_USERS) if method == "GET" else (503, {"message": "down"})
    (tmp_path / "roster.yaml").write_text(ROSTER, "utf-8")
    with Hostile(signed_in(script)) as pbx:
        result = run_module("apply", "roster.yaml", "--yes", "--parallel", "1", "--pbx", pbx.url, "--allow-http",
                            "--username", "admin", "--domain", "tenant.example", cwd=tmp_path,
                            env={"PORTSIP_PASSWORD": PASSWORD})
        posts = [s for s in pbx.seen if s[0] == "POST" and s[1] != "/api/auth/sign_in"]
    no_traceback(result)
    assert result.returncode == 1, result.stderr
    assert len(posts) == 3  # one user's create, tried three times; no other user was tried
    assert "stopped: the PBX keeps refusing" in result.stderr + result.stdout
    assert "not started:" in result.stderr + result.stdout


def test_ssl_cert_file_and_dir_add_no_trusted_ca(certs, tmp_path, monkeypatch):
    cert = certs["ip"][0]
    (tmp_path / "cas").mkdir()
    shutil.copy(cert, tmp_path / "cas" / "pbx.pem")
    subprocess.run(["openssl", "rehash", str(tmp_path / "cas")], check=False, capture_output=True)
    for variable, value in (("SSL_CERT_FILE", str(cert)), ("SSL_CERT_DIR", str(tmp_path / "cas"))):
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        monkeypatch.setenv(variable, value)
        with Hostile(signed_in(lambda h, m, p, b: (200, NO_USERS)), tls(certs, "ip")) as pbx, \
                pytest.raises(PbxError) as caught:
            Client(Login(pbx.url, "admin", PASSWORD, "t"), sleep=lambda s: None).sign_in()
        assert "certificate was refused" in caught.value.message, variable


@pytest.mark.parametrize("url", ["https://[::1", "https://pbx.example:99999/api", "https://pbx.example:ab/api",
                                 "https:///api"])
def test_a_malformed_pbx_url_is_bad_usage_not_retried(url, tmp_path):
    result = plan(url, cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 2 and "is not a URL" in result.stderr and url[:12] in result.stderr, result.stderr


def test_a_redirect_to_a_malformed_url_is_refused_not_retried():
    with Hostile(signed_in(lambda h, m, p, b: (302, None, {"Location": "http://[::1"}))) as pbx, \
            pytest.raises(PbxError) as caught:
        client(pbx.url).users()
    assert "not a URL" in caught.value.message and len(pbx.seen) == 1 + 1


def test_plan_stops_cleanly_when_the_pbx_keeps_refusing(tmp_path, monkeypatch, quick_retries):
    import functools

    from generator.pbx.portsip import client as module
    monkeypatch.setattr(module, "Limits", functools.partial(Limits, refusals=3))
    with Hostile(signed_in(lambda h, m, p, b: (503, {"message": "down"}))) as pbx:
        result = plan(pbx.url, "--allow-http", cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 2 and "keeps refusing" in result.stderr and "nothing more is sent" in result.stderr
    assert len(pbx.seen) == 1 + 3


def test_an_answer_the_pbx_gave_is_kept_when_the_breaker_opens_meanwhile():
    """Another thread may open the breaker while a request is in flight; the
    request the PBX did carry out is a success (raising there told apply a
    remade user was LOST), and only the next request is refused."""
    with Hostile(signed_in(lambda h, m, p, b: (200, {"id": "u1"}))) as pbx:
        pbc = client(pbx.url)
        real = pbc._once

        def meanwhile(*args):
            answered = real(*args)
            pbc.refusing = "the PBX keeps refusing (another thread)"
            return answered
        pbc.sign_in()
        pbc._once = meanwhile
        assert pbc.call("POST", "/users", {"name": "u"}) == {"id": "u1"}
        with pytest.raises(PbxError, match="keeps refusing"):
            pbc.call("GET", "/users/u1")
