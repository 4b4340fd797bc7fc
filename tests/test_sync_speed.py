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
