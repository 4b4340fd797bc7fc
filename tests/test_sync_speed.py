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
