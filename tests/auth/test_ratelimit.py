"""Quotas: effective quota resolution, and concurrent calls against a real server process, with
in-process counters (one worker) and Redis counters shared by two workers."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from portail.auth import principal_for_user, services
from portail.auth.ratelimit import quota_for, set_quota, window_bounds
from portail.catalog import transaction
from tests.conftest import make_instance
from tests.live import live_server


def test_effective_quota_key_then_user_then_max_of_groups_then_default(catalog):
    with transaction(catalog) as s:
        alice = services.create_user(s, "alice")
        for name in ("a", "b"):
            services.add_member(s, services.create_group(s, name), alice)
        key, _ = services.create_api_key(s, alice)
    def effective(with_key: bool = False) -> int:
        with transaction(catalog) as s:
            user = services.get_user(s, "alice")
            return quota_for(s, principal_for_user(user, user.api_keys[0] if with_key else None), default=7,
                             anonymous=3)
    assert effective() == 7
    with transaction(catalog) as s:
        set_quota(s, "group", "a", 100), set_quota(s, "group", "b", 500)
    assert effective() == 500
    with transaction(catalog) as s:
        set_quota(s, "user", "alice", 20)
    assert effective() == 20 and effective(with_key=True) == 20
    with transaction(catalog) as s:
        set_quota(s, "apikey", key.id, 2)
    assert effective(with_key=True) == 2 and effective() == 20
    with transaction(catalog) as s:
        set_quota(s, "user", "alice", None)
        with pytest.raises(Exception, match="Unknown user"):
            set_quota(s, "user", "nobody", 1)
    assert effective() == 500


def test_windows_are_aligned_on_utc():
    assert window_bounds("day", 86400 * 3 + 5) == (86400 * 3, 86400 * 4)
    assert window_bounds("minute", 125.5) == (120, 180)


def _hammer(url: str, count: int, headers: dict | None = None) -> list[httpx.Response]:
    with httpx.Client(timeout=30, headers=headers) as client, ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: client.get(url), range(count)))


def _check(responses: list[httpx.Response], limit: int) -> None:
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(ok) == limit and len(refused) == len(responses) - limit
    assert sorted(int(r.headers["x-ratelimit-remaining"]) for r in ok) == list(range(limit))
    assert {r.headers["x-ratelimit-limit"] for r in responses} == {str(limit)}
    body = refused[0].json()
    assert body["error_code"] == "TooManyRequests" and body["call_limit"] == limit
    assert body["errorcode"] in (10002, 10005) and body["limit_time_unit"] == "day" and body["reset_time"].endswith("Z")
    assert int(refused[0].headers["retry-after"]) >= 1


@pytest.mark.slow
def test_concurrent_calls_in_process_counters(tmp_path):
    home = tmp_path / "home"
    instance = make_instance(home)
    with instance.session() as s:
        user = services.create_user(s, "alice")
        group = services.create_group(s, "agents")
        services.add_member(s, group, user)
        set_quota(s, "group", "agents", 12)
        _, secret = services.create_api_key(s, user)
    instance.store.close()
    with live_server(home, env={"PORTAIL_RATELIMIT_ANONYMOUS": "15"}) as base:
        url = f"{base}/api/explore/v2.1/catalog/datasets"
        _check(_hammer(url, 40), 15)
        anonymous = httpx.get(url)
        assert anonymous.status_code == 429 and anonymous.json()["errorcode"] == 10005
        _check(_hammer(url, 30, {"Authorization": f"Apikey {secret}"}), 12)  # its user's bucket, its group's quota
        assert httpx.get(f"{base}/api/health").status_code == 200  # not counted


@pytest.mark.slow
def test_concurrent_calls_redis_counters_shared_by_two_workers(tmp_path):
    import redis

    prefix = f"portail-test:{uuid.uuid4().hex}:"
    home = tmp_path / "home"
    make_instance(home).store.close()
    try:
        with live_server(home, workers=2, env={"PORTAIL_RATELIMIT_ANONYMOUS": "25", "PORTAIL_REDIS_URL":
                                               "redis://127.0.0.1:6379/0", "PORTAIL_REDIS_PREFIX": prefix}) as base:
            _check(_hammer(f"{base}/api/explore/v2.1/catalog/datasets", 60), 25)
        assert redis.Redis(host="127.0.0.1").keys(prefix + "*")  # the counters lived in Redis
    finally:
        client = redis.Redis(host="127.0.0.1")
        for key in client.scan_iter(prefix + "*"):
            client.delete(key)


def test_a_user_s_keys_share_their_quota_unless_a_key_has_its_own(tmp_path):
    """A user's quota counts all their calls, whichever key (or session, or HTTP Basic) makes
    them: with a quota of 6 and two keys, a multi-node hunt got 6 calls per key. A key given a
    quota of its own counts apart."""
    from fastapi.testclient import TestClient

    from portail.api import create_app

    instance = make_instance(tmp_path / "home")
    with instance.session() as s:
        user = services.create_user(s, "alice")
        set_quota(s, "user", "alice", 6)
        _, first = services.create_api_key(s, user, "first")
        _, second = services.create_api_key(s, user, "second")
        own, third = services.create_api_key(s, user, "third")
        set_quota(s, "apikey", own.id, 3)
    client = TestClient(create_app(instance))
    url = "/api/explore/v2.1/catalog/datasets"
    try:
        statuses = [client.get(url, headers={"Authorization": f"Apikey {key}"}).status_code
                    for key in (first, second) * 4]
        assert statuses == [200] * 6 + [429] * 2
        own_statuses = [client.get(url, headers={"Authorization": f"Apikey {third}"}).status_code for _ in range(4)]
        assert own_statuses == [200] * 3 + [429]
    finally:
        instance.store.close()
