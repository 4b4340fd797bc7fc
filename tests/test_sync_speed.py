"""The sync client's speed (issue 18): connections kept alive, a rate that
adapts to the PBX's limit, list pages read in parallel. Nothing here is
timed: the tests count connections, 429s and requests (figures:
benchmarks/sync.py and docs/performance.md)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fakepbx import ACCOUNT, FakeServer
from tenant import seed

from generator.pbx.portsip.client import START, AdaptiveRate, Client, Login


def client(url: str, **options) -> Client:
    return Client(Login(url, ACCOUNT["username"], ACCOUNT["password"], ACCOUNT["domain"], allow_http=True),
                  **options)


def read_all(pbx_client: Client, parallel: int = 8) -> list:
    listed = pbx_client.users()
    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(lambda u: pbx_client.call("GET", f"/users/{u['id']}"), listed))


def test_connections_are_kept_alive_and_shared():
    with FakeServer() as pbx:
        seed(pbx.state, 150, bare=True)
        details = read_all(client(pbx.url), parallel=4)
    assert len(details) == 150
    requests = len(pbx.state.requests)  # 1 sign-in, 2 pages, 150 users
    assert requests == 153
    assert len(pbx.state.connections) <= 4 + 8  # the threads reading users, the pages read at once


def test_pages_are_read_at_once_in_order_once_counted():
    with FakeServer() as pbx:
        seed(pbx.state, 250, bare=True)
        listed = client(pbx.url).users()
        expected = [u["name"] for u in pbx.state.users.values()]
    assert [u["name"] for u in listed] == expected
    assert pbx.state.reads() == ["/api/users"] * 3


def test_the_client_backs_off_on_429_and_converges_without_errors():
    with FakeServer() as pbx:
        seed(pbx.state, 120, bare=True)
        pbx.state.rate_limit = (20, 0.25)  # 80 a second, under the client's start of 158
        reader = client(pbx.url)
        details = read_all(reader)
    assert len(details) == 120 and all(isinstance(d, dict) for d in details)
    assert pbx.state.limited >= 1 and reader.rate.slowdowns >= 1  # it met the limit and slowed down
    assert reader.rate.per_second < START
    answered = [status for _, _, status in pbx.state.requests]
    assert answered.count(429) <= len(answered) // 5  # a few bursts, not a fight


def test_the_rate_halves_once_a_burst_and_climbs_back_to_the_ceiling():
    now = [0.0]
    rate = AdaptiveRate(ceiling=100.0, start=100.0, clock=lambda: now[0], sleep=lambda s: None)
    for _ in range(8):  # eight requests in flight all meet the same limit
        rate.too_many()
    assert rate.per_second == 50.0 and rate.slowdowns == 1
    now[0] = 1.5
    rate.too_many()
    assert rate.per_second == 25.0
    for _ in range(10_000):
        rate.success()
    assert rate.per_second == 100.0  # the ceiling (--rate), never past it


def test_the_start_is_under_the_newer_limit_and_halves_under_the_older():
    assert START < 10_000 / 60 and START / 2 < 5_000 / 60
    assert AdaptiveRate(ceiling=20.0).per_second == 20.0  # --rate lower than the start: the ceiling
    climbing = AdaptiveRate(ceiling=1000.0)
    for _ in range(10_000):
        climbing.success()
    assert climbing.per_second == START  # --rate 1000 is no reason to go past PortSIP's limit


def test_the_fakes_indexes_refuse_all_its_scans_refused():
    """The fake looks names, extensions and MACs up in indexes (a scan per
    create made benchmarks/sync.py measure the fake): each clash is still
    refused, whether the other user came by the API, was put in place by a
    test, or is a queue or ring group; what a delete frees is free again."""
    import httpx

    def body(name: str, extension: str, **more) -> dict:
        return {"name": name, "display_name": name, "password": "Pa55-word!x", "email": f"{name}@example.com",
                "role": "User", "extension_number": extension, "extension_password": "Ext-Pa55!x",
                "voicemail_pin": "4821", **more}

    with FakeServer() as pbx, httpx.Client(base_url=pbx.url) as http:
        token = http.post("/auth/sign_in", json=ACCOUNT).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def post(path: str, data: dict | None = None) -> int:
            return http.post(path, json=data, headers=headers).status_code

        kate = pbx.state.add_user("Kate", "101", macs=("80:5E:C0:00:00:01",))  # in place, not by the API
        assert post("/users", body("kate", "102")) == 409  # a name in another case
        assert post("/users", body("ann", "101")) == 409
        made = http.post("/users", json=body("ann", "103"), headers=headers).json()["id"]
        assert post(f"/users/{made}/phones", {"mac": "805ec0000001"}) == 409  # a MAC in another form
        assert post(f"/users/{made}/phones", {"mac": "80:5e:c0:00:00:02"}) == 201
        assert post("/users", body("bob", "104", blfs=[{"value": "103"}])) == 201  # ann's, made by the API
        assert post("/users", body("Ann", "105")) == 409
        pbx.state.users["Wk"] = {"id": "Wk", "name": "Zed", "extension_number": "106", "display_name": "Zed"}
        pbx.state.phones["Wk"] = {}
        assert post("/users", body("zed", "107")) == 409  # put in place by a test
        pbx.state.add_group("ring_groups", "Sales", "108", [])
        assert post("/users", body("carl", "108")) == 409
        assert post("/users", body("carl", "109", blfs=[{"value": "110"}])) == 422  # no such extension
        assert post("/users", body("carl", "109", blfs=[{"value": "109"}, {"value": "108"}])) == 201
        phone = next(iter(pbx.state.phones[made]))
        assert post(f"/users/{made}/phones/{phone}/destroy") == 204
        assert post(f"/users/{made}/phones", {"mac": "80:5E:C0:00:00:02"}) == 201  # freed by the delete
        assert post(f"/users/{kate}/destroy") == 204
        assert post("/users", body("KATE", "101", blfs=[{"value": "101"}])) == 201  # all Kate's freed
        assert post(f"/users/{made}/phones", {"mac": "80-5e-c0-00-00-01"}) == 201
        assert post("/users", body("dan", "111", blfs=[{"value": "106"}])) == 201


def test_the_state_digest_is_the_whole_json_s_without_holding_it():
    """A plan's digest of the PBX's users is fed a user at a time: the same
    digest as the JSON of all of them, while what it holds at once stays a
    small part of that JSON (not a peak of twice its size)."""
    import datetime
    import hashlib
    import json
    import tracemalloc

    from generator.sync.plan import state_digest

    def whole(actual: dict) -> str:
        return hashlib.sha256(json.dumps(actual, sort_keys=True, default=str).encode()).hexdigest()

    odd = {"Zoë \"q\"": {"id": "1", "detail": {"b": [1, {"z": None, "a": 2.5}], "a": "ü\n"}, "phones": []},
           "ann": {"id": "2", "detail": {"when": datetime.date(2026, 1, 2), "ok": True}, "phones": [{"mac": "x"}]},
           "Ann": {"id": "3", "detail": {}, "phones": []}}
    for actual in ({}, {"a": {}}, odd):
        assert state_digest(actual) == whole(actual)
    actual = {f"user{n:05}": {"id": str(n), "detail": {f"field{k}": f"value {n} {k}" * 3 for k in range(40)},
                              "phones": [{"mac": f"{n:012x}", "model": "SIP-T46U"}]} for n in range(2000)}
    size = len(json.dumps(actual, sort_keys=True))
    tracemalloc.start()
    try:
        digest = state_digest(actual)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert digest == whole(actual)
    assert peak < size / 10, (peak, size)


# ---- memory: what a plan holds (figures: benchmarks/sync.py, docs/performance.md) -----------------

class Detail(dict):
    """A PBX user's detail that can be watched (a weak reference) for whether anything still holds it."""


def test_a_plan_compares_each_pbx_user_as_it_arrives_and_keeps_only_those_it_deletes_or_replaces():
    """Each PBX user is let go once compared: while the next is read, none
    before it is held but those the plan deletes or replaces (their losses
    are read later). The plan is the very plan of the tenant read whole."""
    import weakref

    from memtarget import MemTarget

    from generator.model import mac_key
    from generator.sync.plan import compare_users, make_plan

    def one(extension: str, name: str, display: str, mac: str) -> dict:
        return {"id": f"id-{name}", "detail": Detail(name=name, extension_number=extension, display_name=display),
                "phones": [{"id": f"p-{name}", "mac": mac, "model": "T31", "vendor": "Yealink"}]}

    tenant = {"zed": one("0105", "zed", "Zed", "0c:38:3e:00:00:05"),  # listed first, not in the roster: deleted
              "ann": one("0101", "ann", "Ann", "0c:38:3e:00:00:01"),  # as the roster says
              "cat": one("0199", "cat", "Cat", "0c:38:3e:00:00:03"),  # a new extension: replaced
              "bob": one("0102", "bob", "Bob", "0c:38:3e:00:00:02")}  # a new display name: updated
    wanted = {name: {"name": name, "extension_number": extension, "display_name": display,
                     "phones": [{"mac": mac, "model": "T31", "vendor": "Yealink"}]}
              for name, extension, display, mac in (("ann", "0101", "Ann", "0c:38:3e:00:00:01"),
                                                    ("bob", "0102", "Robert", "0c:38:3e:00:00:02"),
                                                    ("cat", "0103", "Cat", "0c:38:3e:00:00:03"))}
    listed = list(tenant)
    whole = make_plan(MemTarget(), wanted, {name: tenant[name] for name in listed}, set(), prune=True)
    watched: dict[str, weakref.ref] = {}
    held: list[tuple[str, list[str]]] = []

    def arriving():
        previous = None
        for name in sorted(listed):
            user = tenant.pop(name)  # from here on only the plan holds it
            alive = sorted(n for n, ref in watched.items() if ref() is not None and n != previous)
            held.append((name, alive))  # the one before may still be in the plan's hands, no other
            watched[name], previous = weakref.ref(user["detail"]), name
            yield listed.index(name), name, user
            del user

    made, index = compare_users(MemTarget(), wanted, arriving(), set(), prune=True)
    assert made.as_data() == whole.as_data()
    assert {u.name: u.kind for u in made.users} == {"bob": "update", "cat": "replace", "zed": "delete"}
    assert held == [("ann", []), ("bob", []), ("cat", []), ("zed", [])]  # ann and bob gone once compared
    assert sorted(n for n, ref in watched.items() if ref() is not None) == ["cat", "zed"]
    assert sorted(index.doomed) == ["cat", "zed"] and index.count == 4
    assert index.extension_holder("0105") == "zed" and index.mac_holder(mac_key("0C-38-3E-00-00-02")) == "bob"
    assert index.has("ann") and not index.has("Ann") and index.same_name("ANN") == ["ann"]


def test_the_state_digest_refuses_users_out_of_name_order():
    """Fed a user at a time, the digest is the sorted JSON's only if they come sorted: anything else is a bug."""
    import pytest

    from generator.sync.plan import StateDigest

    digest = StateDigest()
    digest.add("bob", {"id": "1"})
    with pytest.raises(ValueError, match="out of name order"):
        digest.add("ann", {"id": "2"})


def test_portsip_gives_its_users_in_name_order_with_their_places_in_the_listing():
    from generator.pbx.portsip.target import PortSip

    with FakeServer() as pbx:
        for name in ("zed", "Amy", "bob", "amy"):
            pbx.state.add_user(name, f"0{len(pbx.state.users) + 101}")
        target = PortSip(client(pbx.url))
        target.open()
        streamed = list(target.each_user(2))
        whole = target.read_users(2)
    assert [(place, name) for place, name, _ in streamed] == [(1, "Amy"), (3, "amy"), (2, "bob"), (0, "zed")]
    assert {name: user for _, name, user in streamed} == whole and list(whole) == ["zed", "Amy", "bob", "amy"]


def test_reads_in_order_start_at_most_a_window_ahead_of_the_one_awaited():
    """pool.map would start a read for every user of the tenant at once, each
    answer then held until its turn; in_order starts `ahead` more at most."""
    import threading

    from generator.pbx.portsip.target import in_order

    started, lock = [], threading.Lock()

    def work(item: int) -> int:
        with lock:
            started.append(item)
        return item * 10

    with ThreadPoolExecutor(16) as pool:
        results = in_order(pool, work, range(50), 3)
        assert next(results) == 0
        results.close()
    assert len(started) <= 4
    with ThreadPoolExecutor(4) as pool:
        assert list(in_order(pool, work, range(50), 3)) == [n * 10 for n in range(50)]


def test_a_duplicate_extension_on_the_pbx_is_held_by_the_first_listed_whatever_the_read_order(tmp_path):
    """A hostile PBX with two users on one extension: the conflict names the
    one it lists first (as when the tenant was read whole), though users are
    now read in name order."""
    from conftest import HEAD, run_module, user

    with FakeServer() as pbx:
        pbx.state.add_user("zed", "0101")
        pbx.state.add_user("amy", "0101")
        (tmp_path / "roster.yaml").write_text(HEAD + user("bob", "0101"), "utf-8")
        login = ["--pbx", pbx.url, "--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"], "--rate", "1000",
                 "--allow-http"]
        planned = run_module("plan", "roster.yaml", *login, cwd=tmp_path,
                             env={"PORTSIP_PASSWORD": ACCOUNT["password"]})
    assert planned.returncode == 1
    assert "extension 0101 is taken on the PBX by user zed (not in the roster, left alone)" in planned.stderr


def test_a_plan_stopped_while_comparing_stops_its_reads_ahead_and_logs_every_request(tmp_path, monkeypatch):
    """Ctrl-C (or any error) while a PBX user is compared, with reads
    running ahead: the plan stops them before it goes on (none queued is
    started, those in flight end), so that no read runs on after it and each
    one made is in the --log, which the plan closes on its way out."""
    import json
    import threading

    from conftest import HEAD, run_module, user

    from generator.sync.plan import PbxIndex

    before = set(threading.enumerate())
    compared = []
    real_add = PbxIndex.add

    def interrupted(index, place, name, pbx_user):
        compared.append(name)
        if len(compared) == 3:
            raise KeyboardInterrupt
        real_add(index, place, name, pbx_user)

    monkeypatch.setattr(PbxIndex, "add", interrupted)
    (tmp_path / "roster.yaml").write_text(HEAD + user("bob", "0101"), "utf-8")
    with FakeServer() as pbx:
        for n in range(30):
            pbx.state.add_user(f"user{n:02}", f"{200 + n}")
        pbx.state.latency = 0.02  # reads are in flight when the comparison stops
        login = ["--pbx", pbx.url, "--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"], "--rate", "1000",
                 "--allow-http", "--parallel", "2", "--log", str(tmp_path / "plan.log")]
        planned = run_module("plan", "roster.yaml", *login, cwd=tmp_path,
                             env={"PORTSIP_PASSWORD": ACCOUNT["password"]})
        left = [t.name for t in set(threading.enumerate()) - before if t.name.startswith("ThreadPoolExecutor")]
        answered = [path for _, path, _ in pbx.state.requests]
    assert planned.returncode == 130 and "interrupted; nothing changed on the PBX" in planned.stderr
    assert left == []  # no reader left running or waiting
    logged = [json.loads(line)["path"] for line in (tmp_path / "plan.log").read_text().splitlines()]
    assert len(answered) < 2 + 2 * 30  # stopped well before the end (sign-in, the list, two reads a user)
    assert len(logged) == len(answered), (logged, answered)
