"""A stateful fake PortSIP v22 PBX for the sync tests: a real HTTP server on
127.0.0.1 keeping users and phones in memory.

It gives opaque ids, pages, keeps names (in any case), extensions and MACs
(across every phone) unique, refuses a BLF or forward number that looks like
an extension but is none on the PBX (as a real PBX does: 422), refuses a field
the API's schema does not name for an operation (so a body the tool shapes
wrong fails here), refuses changing what the API cannot change, and can be
told to answer 429 or 503, hold a rate limit (429 with Retry-After past it),
drop a connection, expire a token, or refuse one user with a 422. It keeps
what deleting a user loses: call-queue and ring-group memberships, voicemail
greetings, holidays, speed dials. Request
schemas come from the project's copy of PortSIP's document
(schemas/portsip-v22-api.json).
"""

from __future__ import annotations

import base64
import collections
import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

API = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "portsip-v22-api.json").read_text("utf-8"))


def _props(path: str) -> set[str]:
    schema = API["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return set(schema.get("properties", {}))


CREATE_USER, UPDATE_USER = _props("/users"), _props("/users/{id}")
CREATE_PHONE, UPDATE_PHONE = _props("/users/{id}/phones"), _props("/users/{id}/phones/{phone_id}")
REQUIRED_USER = ("name", "display_name", "password", "email", "role", "extension_number", "extension_password",
                 "voicemail_pin")
SECRETS = ("password", "extension_password")
ACCOUNT = {"username": "admin", "password": "Admin-Pa55!", "domain": "tenant.example"}
EXTENSION_LIKE = re.compile(r"[0-9]{3,6}")  # a number the PBX takes for one of its extensions
PER_USER = ("greetings", "holidays", "speed_dial_8", "speed_dial_100")  # lists a user's delete drops


def _mac(mac: object) -> str:
    return re.sub(r"[^0-9a-f]", "", str(mac).lower())


def references(body: dict) -> list[str]:
    """Every BLF and forward-rule number in a user body."""
    found = [str(b.get("value")) for b in body.get("blfs") or [] if isinstance(b, dict)]
    rules = [v for k, v in body.items() if k.endswith("_forward_rule")] + list(body.get("custom_forward_rules") or [])
    return found + [str(r["number"]) for r in rules if isinstance(r, dict) and r.get("number")]


class Fault:
    """Answer the next `times` requests whose path matches `pattern` with `kind`:
    429, 503, drop (close without answering), expire (the token, then 401) or
    refuse (422)."""

    def __init__(self, kind: str, pattern: str = ".*", times: int = 1, method: str = "", message: str = ""):
        self.kind, self.pattern, self.times, self.method = kind, re.compile(pattern), times, method
        self.message = message  # what a refusal says instead of the fake's own words


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users: dict[str, dict] = {}
        self.phones: dict[str, dict[str, dict]] = {}
        self.tokens: dict[str, float] = {}
        self.refresh: dict[str, str] = {}
        self.faults: list[Fault] = []
        self.refused_names: set[str] = set()  # users whose create or update is refused (422)
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status)
        self.bodies: list[str] = []  # every request body as sent (to look for what must not be sent)
        self.ids = (base64.b64encode(str(700551909773148160 + n).encode()).decode() for n in itertools.count())
        self.latency = 0.0
        # (requests, seconds): past that many in any rolling window, 429 with Retry-After (as PortSIP allows
        # 10,000 a minute, or 5,000 before v22.1.7). None: no limit.
        self.rate_limit: tuple[int, float] | None = None
        self.started: collections.deque[float] = collections.deque()  # when each request in the window came
        self.limited = 0  # requests answered 429 for the rate limit
        self.connections: set[tuple[str, int]] = set()  # the client's (address, port) of each connection
        self.token_life = 3600
        self.check_references = True  # off only where a test loads users in an order that ignores them
        self.queues: dict[str, dict] = {}  # id -> {id, name, extension_number, agents: [extension]}
        self.ring_groups: dict[str, dict] = {}  # the same shape
        self.kept: dict[str, dict[str, list]] = {}  # user id -> {greetings|holidays|speed_dial_*: [items]}
        # What the uniqueness checks look up, counted, so that a create costs the same at 5,000 users as at 5
        # (a scan of every user per create made the benchmark measure the fake). Kept by the fake's own
        # writes; rebuilt whole when the number of users, queues or ring groups changes behind its back (a
        # test putting users in place). A test changing a name, extension or phone in place calls reindex().
        self._index: tuple[tuple[int, int, int], dict[str, collections.Counter]] | None = None

    def reindex(self) -> None:
        """Forget the indexes: the next check rebuilds them from what the PBX holds."""
        self._index = None

    def _shape(self) -> tuple[int, int, int]:
        return len(self.users), len(self.queues), len(self.ring_groups)

    def index(self) -> dict[str, collections.Counter]:
        """{"names": lower-cased user names, "extensions": users', queues' and ring groups', "macs": every
        phone's, normalised}, each counted."""
        if self._index is None or self._index[0] != self._shape():
            groups = [*self.queues.values(), *self.ring_groups.values()]
            found = {"names": collections.Counter(str(u["name"]).lower() for u in self.users.values()),
                     "extensions": collections.Counter(str(u.get("extension_number"))
                                                       for u in [*self.users.values(), *groups]),
                     "macs": collections.Counter(_mac(p["mac"]) for ps in self.phones.values() for p in ps.values())}
            self._index = (self._shape(), found)
        return self._index[1]

    def _indexed(self, user: dict, phones: list[dict], step: int) -> None:
        """Count (step 1) or uncount (-1) a user the fake itself adds or removes, or only phones (user {})."""
        found = self.index()
        keys = [("names", str(user["name"]).lower()), ("extensions", str(user.get("extension_number")))] \
            if user else []
        for kind, key in keys + [("macs", _mac(p["mac"])) for p in phones]:
            found[kind][key] += step
            if found[kind][key] <= 0:
                del found[kind][key]

    def _added(self, user: dict) -> None:
        """Count a user the fake has just put in `users` (the shape then differs by one)."""
        if self._index is not None and self._index[0] == (len(self.users) - 1, *self._shape()[1:]):
            self._index = (self._shape(), self._index[1])
            self._indexed(user, [], 1)

    def _removed(self, user: dict, phones: list[dict]) -> None:
        """Uncount a user the fake has just taken out of `users`, with its phones."""
        if self._index is not None and self._index[0] == (len(self.users) + 1, *self._shape()[1:]):
            self._index = (self._shape(), self._index[1])
            self._indexed(user, phones, -1)

    def writes(self) -> list[tuple[str, str, int]]:
        return [r for r in self.requests if r[0] == "POST" and not r[1].startswith("/api/auth/")]

    def reads(self) -> list[str]:
        return [r[1] for r in self.requests if r[0] == "GET"]

    def add_user(self, name: str, extension: str, macs: tuple[str, ...] = (), **fields) -> str:
        """A user made outside the roster (in the portal), with phones."""
        user_id = next(self.ids)
        self.users[user_id] = {"id": user_id, "name": name, "extension_number": extension, "display_name": name,
                               **fields}
        self.phones[user_id] = {}
        for mac in macs:
            phone_id = next(self.ids)
            self.phones[user_id][phone_id] = {"id": phone_id, "mac": mac, "vendor": "Yealink", "model": "SIP-T32G",
                                              "filename": "yealinkT3x.ph.xml"}
        return user_id

    def add_group(self, kind: str, name: str, extension: str, agents: list[str]) -> str:
        """A call queue (kind "queues") or ring group ("ring_groups") with these members' extensions."""
        group_id = next(self.ids)
        getattr(self, kind)[group_id] = {"id": group_id, "name": name, "extension_number": extension,
                                         "agents": list(agents)}
        return group_id

    def extensions(self) -> set[str]:
        """Every extension the PBX has: users', queues' and ring groups'."""
        return set(self.index()["extensions"])

    def user_id(self, name: str) -> str | None:
        return next((i for i, u in self.users.items() if u["name"] == name), None)


class Handler(BaseHTTPRequestHandler):
    server: FakeServer
    protocol_version = "HTTP/1.1"  # connections kept alive, as a real PBX keeps them

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def _answer(self, status: int, body: object = None, headers: dict | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        # Kept before answering: the client may count requests as soon as it has the answer.
        self.server.state.requests.append((self.command, self.path.split("?")[0], status))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        state = self.server.state
        if state.latency:
            time.sleep(state.latency)
        state.connections.add(self.client_address)
        wait = self._over_limit()
        if wait is not None:
            self._answer(429, {"message": "too many requests"}, {"Retry-After": f"{wait:.3f}"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        state.bodies.append(raw.decode("utf-8", "replace"))
        path = urlparse(self.path).path
        with state.lock:
            fault = next((f for f in state.faults if f.times > 0 and f.pattern.search(path)
                          and f.method in ("", method)), None)
            if fault:
                fault.times -= 1
        if fault and fault.kind == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            state.requests.append((method, path, 0))
            return
        if fault and fault.kind in ("429", "503"):
            self._answer(int(fault.kind), {"message": "slow down"}, {"Retry-After": "0"} if fault.kind == "429"
                         else None)
            return
        if fault and fault.kind == "expire":
            state.tokens = {t: 0.0 for t in state.tokens}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._answer(400, {"message": "not JSON"})
            return
        with state.lock:
            status, answer = self._route(method, path, parse_qs(urlparse(self.path).query), body, fault)
        self._answer(status, answer)

    def _over_limit(self) -> float | None:
        """Seconds until the rolling window has room, when this request is past
        the rate limit (it does not count then); None when it may go on."""
        state = self.server.state
        if state.rate_limit is None:
            return None
        most, seconds = state.rate_limit
        with state.lock:
            now = time.monotonic()
            while state.started and state.started[0] <= now - seconds:
                state.started.popleft()
            if len(state.started) >= most:
                state.limited += 1
                return state.started[0] + seconds - now
            state.started.append(now)
            return None

    def _authorised(self) -> bool:
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        return self.server.state.tokens.get(token, 0.0) > time.monotonic()

    def _token(self) -> dict:
        state = self.server.state
        access, refresh = next(state.ids) + "a", next(state.ids) + "r"
        state.tokens[access] = time.monotonic() + state.token_life
        state.refresh[refresh] = access
        return {"token_type": "Bearer", "access_token": access, "refresh_token": refresh,
                "expires_in": state.token_life}

    def _route(self, method: str, path: str, query: dict, body, fault) -> tuple[int, object]:
        state = self.server.state
        if path == "/api/auth/sign_in" and method == "POST":
            if (body or {}).get("username") == "two.factor":
                return 200, {"two_factor_enabled": True, "token": "half-signed-in"}
            wanted = {k: (body or {}).get(k) for k in ACCOUNT}
            return (200, self._token()) if wanted == ACCOUNT else (401, {"message": "wrong credentials"})
        if path == "/api/auth/refresh_token" and method == "POST":
            if (body or {}).get("refresh_token") in state.refresh:
                del state.refresh[body["refresh_token"]]
                return 200, self._token()
            return 401, {"message": "bad refresh token"}
        if not self._authorised():
            return 401, {"message": "unauthorized"}
        parts = path.removeprefix("/api/").split("/")
        if parts[0] == "ring_groups" and method == "GET":
            return self._ring_groups(parts[1:], query)
        if parts == ["call_queues"] and method == "GET":
            return 200, {"count": len(state.queues), "items": [{k: q[k] for k in ("id", "name", "extension_number")}
                                                                 for q in state.queues.values()]}
        if parts[0] != "users":
            return 404, {"message": "no such path"}
        return self._users(method, parts[1:], query, body or {}, fault)

    def _ring_groups(self, parts: list[str], query: dict) -> tuple[int, object]:
        groups = self.server.state.ring_groups
        if not parts:
            top, skip = int(query.get("top", ["100"])[0]), int(query.get("skip", ["0"])[0])
            listed = list(groups.values())
            items = [{k: g[k] for k in ("id", "name", "extension_number")} for g in listed[skip: skip + min(top, 100)]]
            return 200, {"count": len(listed), "items": items}
        if len(parts) == 2 and parts[1] == "agents" and parts[0] in groups:
            return 200, {"items": [{"extension_number": e, "skill_level": 1} for e in groups[parts[0]]["agents"]]}
        return 404, {"message": "no such ring group"}

    def _unknown_reference(self, body: dict, own: str) -> str | None:
        """A BLF or forward number that looks like an extension and is none on the PBX."""
        if not self.server.state.check_references:
            return None
        have = self.server.state.index()["extensions"]
        return next((n for n in references(body) if EXTENSION_LIKE.fullmatch(n) and n not in have and n != own),
                    None)

    def _users(self, method: str, parts: list[str], query: dict, body: dict, fault) -> tuple[int, object]:
        state = self.server.state
        if not parts:
            if method == "GET":
                top, skip = int(query.get("top", ["100"])[0]), int(query.get("skip", ["0"])[0])
                listed = list(state.users.values())
                items = [{k: u[k] for k in ("id", "name", "extension_number", "display_name")}
                         for u in listed[skip: skip + min(top, 100)]]
                return 200, {"count": len(listed), "items": items}
            return self._create_user(body, fault)
        user = state.users.get(parts[0])
        if user is None:
            return 404, {"message": "no such user"}
        rest = parts[1:]
        if not rest:
            if method == "GET":
                return 200, {k: v for k, v in user.items() if k not in SECRETS}
            return self._update_user(user, body, fault)
        if rest == ["destroy"]:
            del state.users[user["id"]]
            state._removed(user, list(state.phones.pop(user["id"], {}).values()))
            state.kept.pop(user["id"], None)
            for group in [*state.queues.values(), *state.ring_groups.values()]:
                group["agents"] = [e for e in group["agents"] if e != user["extension_number"]]
            return 204, None
        if method == "GET" and rest == ["call_queues"]:
            return 200, {"items": [{k: q[k] for k in ("id", "name", "extension_number")}
                                   for q in state.queues.values() if user["extension_number"] in q["agents"]]}
        if method == "GET" and len(rest) == 1 and rest[0] in PER_USER:
            items = state.kept.get(user["id"], {}).get(rest[0], [])
            return 200, {"count": len(items), "items": items} if rest[0] == "holidays" else {"items": items}
        if rest[0] in ("password", "extension_password", "role") and len(rest) == 1:
            key = "role" if rest[0] == "role" else "password"
            if set(body) != {key}:
                return 422, {"message": f"expected {{{key}}}"}
            user[rest[0]] = body[key]
            return 200, {}
        if rest[0] == "phones":
            return self._phones(method, user, rest[1:], body)
        return 404, {"message": "no such path"}

    def _refused(self, name: str, fault) -> bool:
        return name in self.server.state.refused_names or bool(fault and fault.kind == "refuse")

    def _create_user(self, body: dict, fault) -> tuple[int, object]:
        state = self.server.state
        unknown = set(body) - CREATE_USER
        missing = [k for k in REQUIRED_USER if not body.get(k)]
        if unknown or missing:
            return 422, {"message": f"unknown fields {sorted(unknown)}, missing {missing}"}
        if self._refused(body["name"], fault):
            return 422, {"message": (fault and fault.message) or
                         f"user {body['name']} refused: the password {body['password']} is too weak"}
        index = state.index()
        if body["name"].lower() in index["names"] or body["extension_number"] in index["extensions"]:
            return 409, {"message": "name or extension number in use"}
        unknown_reference = self._unknown_reference(body, body["extension_number"])
        if unknown_reference:
            return 422, {"message": f"{unknown_reference} is not an extension on this PBX"}
        user_id = next(state.ids)
        state.users[user_id] = {"id": user_id, **body}
        state.phones[user_id] = {}
        state._added(state.users[user_id])
        return 201, {"id": user_id}

    def _update_user(self, user: dict, body: dict, fault) -> tuple[int, object]:
        unknown = set(body) - UPDATE_USER
        if unknown:
            return 422, {"message": f"cannot update {sorted(unknown)}"}
        if self._refused(user["name"], fault):
            return 422, {"message": f"user {user['name']} refused"}
        unknown_reference = self._unknown_reference(body, user["extension_number"])
        if unknown_reference:
            return 422, {"message": f"{unknown_reference} is not an extension on this PBX"}
        user.update(body)
        return 200, {}

    def _phones(self, method: str, user: dict, rest: list[str], body: dict) -> tuple[int, object]:
        state = self.server.state
        phones = state.phones[user["id"]]
        if not rest:
            if method == "GET":
                return 200, {"items": [{k: v for k, v in p.items() if k != "password"} for p in phones.values()]}
            unknown = set(body) - CREATE_PHONE
            if unknown or not body.get("mac"):
                return 422, {"message": f"unknown fields {sorted(unknown)} or no mac"}
            if _mac(body["mac"]) in state.index()["macs"]:
                return 409, {"message": "MAC in use"}
            phone_id = next(state.ids)
            phones[phone_id] = {"id": phone_id, **body}
            state._indexed({}, [phones[phone_id]], 1)
            return 201, {"id": phone_id}
        phone = phones.get(rest[0])
        if phone is None:
            return 404, {"message": "no such phone"}
        if rest[1:] == ["destroy"]:
            state._indexed({}, [phones.pop(rest[0])], -1)
            return 204, None
        if method == "GET":
            return 200, {k: v for k, v in phone.items() if k != "password"}
        unknown = set(body) - UPDATE_PHONE
        if unknown:
            return 422, {"message": f"cannot update {sorted(unknown)}"}
        phone.update(body)
        return 200, {}


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = State()
        # serve_forever looks for shutdown() every poll interval: 0.5 s by
        # default, which every test using a server would wait at its end.
        self.thread = threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api"

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
