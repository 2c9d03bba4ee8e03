"""Every failure clore can produce, against the fake server: the right error, retried only
when it is a read, never resent when it is an order call."""

from __future__ import annotations

import logging
import socket

import pytest

from bot.clore import errors as e
from bot.clore.client import CloreClient
from bot.clore.models import NewOrder, OrderEdit, Overclock
from tests.clore.conftest import ALICE, ALICE_KEY, make_client
from tests.fakes.clore_server import FakeClore

ORDER = NewOrder(renting_server=200, price=9.0, image="img", oc=(Overclock(pl=300),))


def assert_no_key(exc: BaseException) -> None:
    assert ALICE_KEY not in str(exc)
    assert ALICE_KEY not in repr(exc)


@pytest.mark.parametrize(
    ("code", "kind"),
    [(2, e.CloreInvalidInput), (3, e.CloreAuthError), (4, e.CloreInvalidEndpoint),
     (6, e.CloreRejected)],
)
async def test_permanent_codes_raise_typed_errors_without_retry(
    fake: FakeClore, client: CloreClient, code: int, kind: type[e.CloreError]
) -> None:
    fake.fail("get_gigaspot", "code", code=code, error="server-offline")
    with pytest.raises(kind) as info:
        await client.get_gigaspot(ALICE_KEY)
    assert info.value.code == code
    assert info.value.error == "server-offline"
    assert not info.value.transient
    assert len(fake.calls_for("get_gigaspot")) == 1
    assert_no_key(info.value)


@pytest.mark.parametrize("code", [1, 5])
async def test_transient_codes_are_retried_on_reads(
    fake: FakeClore, client: CloreClient, code: int
) -> None:
    fake.fail("get_gigaspot", "code", code=code)
    info = await client.get_gigaspot(ALICE_KEY)
    assert info.my_user_id == ALICE
    assert [c.code for c in fake.calls_for("get_gigaspot")] == [code, 0]


async def test_reads_give_up_after_bounded_attempts(fake: FakeClore, client: CloreClient) -> None:
    fake.fail("wallets", "code", code=1, times=10)
    with pytest.raises(e.CloreDatabaseError) as info:
        await client.wallets(ALICE_KEY)
    assert info.value.transient
    assert len(fake.calls_for("wallets")) == client.read_attempts


async def test_bad_key_is_code_3_and_never_shown(fake: FakeClore, client: CloreClient) -> None:
    with pytest.raises(e.CloreAuthError) as info:
        await client.get_gigaspot("wrong-SECRET-key")
    assert "wrong-SECRET-key" not in str(info.value)
    assert len(fake.calls) == 1


async def test_http_401_is_an_auth_error() -> None:
    with FakeClore(keys={}, auth_failure_status=401, interval=0) as fake:
        async with make_client(fake.url) as client:
            with pytest.raises(e.CloreAuthError) as info:
                await client.wallets(ALICE_KEY)
    assert info.value.status == 401
    assert len(fake.calls) == 1
    assert_no_key(info.value)


async def test_unusable_key_is_refused_before_sending(
    fake: FakeClore, client: CloreClient
) -> None:
    key = "SECRET\nInjected: header"
    with pytest.raises(e.CloreAuthError) as info:
        await client.get_gigaspot(key)
    assert "SECRET" not in str(info.value)
    assert fake.calls == []


async def test_429_retry_after_is_honoured(fake: FakeClore, client: CloreClient) -> None:
    fake.fail("get_gigaspot", "throttle", retry_after=0.3)
    await client.get_gigaspot(ALICE_KEY)
    first, second = fake.calls_for("get_gigaspot")
    assert first.status == 429
    assert second.at - first.at >= 0.3 - 0.01  # waited at least what the server asked


async def test_429_on_an_order_call_is_surfaced_not_retried(
    fake: FakeClore, client: CloreClient
) -> None:
    fake.fail("create_gigaspot_orders", "throttle", retry_after=2)
    with pytest.raises(e.CloreRateLimited) as info:
        await client.create_gigaspot_orders(ALICE_KEY, [ORDER])
    assert info.value.retry_after == 2
    assert info.value.transient and not info.value.ambiguous
    assert len(fake.calls_for("create_gigaspot_orders")) == 1
    assert fake.bids_of(ALICE) == []


async def test_5xx_is_retried_on_reads(fake: FakeClore, client: CloreClient) -> None:
    fake.fail("my_orders", "http", status=502)
    assert await client.my_orders(ALICE_KEY) == []
    assert [c.status for c in fake.calls_for("my_orders")] == [502, 200]


@pytest.mark.parametrize(("kind", "error"), [
    ("http", e.CloreServerError),
    ("drop", e.CloreConnectionError),
    ("truncated", e.CloreBadReply),
    ("empty", e.CloreBadReply),
    ("wrong_types", e.CloreBadReply),
])
async def test_applied_then_failed_create_is_ambiguous_and_sent_once(
    fake: FakeClore, client: CloreClient, kind: str, error: type[e.CloreError]
) -> None:
    fake.fail("create_gigaspot_orders", kind, apply=True)
    with pytest.raises(error) as info:
        await client.create_gigaspot_orders(ALICE_KEY, [ORDER])
    assert info.value.ambiguous
    assert len(fake.calls_for("create_gigaspot_orders")) == 1
    assert len(fake.bids_of(ALICE)) == 1  # it did go through: the caller must reconcile


async def test_timed_out_create_is_ambiguous_and_sent_once(fake: FakeClore) -> None:
    fake.fail("create_gigaspot_orders", "hang", apply=True, hang=5)
    async with make_client(fake.url, timeout=0.3) as client:
        with pytest.raises(e.CloreTimeout) as info:
            await client.create_gigaspot_orders(ALICE_KEY, [ORDER])
        assert info.value.ambiguous and info.value.transient
        await client.get_gigaspot(ALICE_KEY)  # the key's queue is free again
    assert len(fake.calls_for("create_gigaspot_orders")) == 1
    assert len(fake.bids_of(ALICE)) == 1


async def test_reads_time_out_after_bounded_attempts(fake: FakeClore) -> None:
    fake.fail("get_gigaspot", "hang", times=5, hang=5)
    async with make_client(fake.url, timeout=0.2, read_attempts=2) as client:
        with pytest.raises(e.CloreTimeout) as info:
            await client.get_gigaspot(ALICE_KEY)
    assert not info.value.ambiguous  # a read changes nothing
    assert len(fake.calls_for("get_gigaspot")) == 2


async def test_edit_5xx_before_applying_is_still_ambiguous(
    fake: FakeClore, client: CloreClient
) -> None:
    fake.fail("edit_gigaspot_orders", "http", status=503)
    with pytest.raises(e.CloreServerError) as info:
        await client.edit_gigaspot_orders(ALICE_KEY, [OrderEdit(order_id=1, price=11)])
    assert info.value.ambiguous  # from outside a 5xx cannot tell whether it was applied
    assert len(fake.calls_for("edit_gigaspot_orders")) == 1


async def test_code_6_on_an_order_call_is_a_clear_rejection(
    fake: FakeClore, client: CloreClient
) -> None:
    fake.fail("create_gigaspot_orders", "code", code=6, error="not_enough_balance")
    with pytest.raises(e.CloreRejected) as info:
        await client.create_gigaspot_orders(ALICE_KEY, [ORDER])
    assert info.value.error == "not_enough_balance"
    assert not info.value.ambiguous and not info.value.transient
    assert fake.bids_of(ALICE) == []


@pytest.mark.parametrize("kind", ["truncated", "empty", "wrong_types"])
@pytest.mark.parametrize("endpoint", ["get_gigaspot", "wallets", "my_orders"])
async def test_garbled_reads_are_bad_replies_after_retries(
    fake: FakeClore, client: CloreClient, kind: str, endpoint: str
) -> None:
    fake.fail(endpoint, kind, times=10)
    with pytest.raises(e.CloreBadReply) as info:
        await getattr(client, endpoint)(ALICE_KEY)
    assert not info.value.ambiguous
    assert len(fake.calls_for(endpoint)) == client.read_attempts


@pytest.mark.parametrize("endpoint", ["edit_gigaspot_orders", "cancel_orders"])
async def test_wrong_types_on_edit_and_cancel_are_ambiguous(
    fake: FakeClore, client: CloreClient, endpoint: str
) -> None:
    fake.fail(endpoint, "wrong_types")
    call = (
        client.edit_gigaspot_orders(ALICE_KEY, [OrderEdit(order_id=500, price=9)])
        if endpoint == "edit_gigaspot_orders"
        else client.cancel_orders(ALICE_KEY, [500])
    )
    with pytest.raises(e.CloreBadReply) as info:
        await call
    assert info.value.ambiguous
    assert len(fake.calls_for(endpoint)) == 1


@pytest.mark.parametrize("declare_length", [True, False])
async def test_oversized_reply_is_refused_once(fake: FakeClore, declare_length: bool) -> None:
    fake.fail("get_gigaspot", "oversized", size=2**20, declare_length=declare_length)
    async with make_client(fake.url, max_reply_bytes=64 * 1024) as client:
        with pytest.raises(e.CloreBadReply) as info:
            await client.get_gigaspot(ALICE_KEY)
    assert not info.value.transient  # the same request would bring the same size
    assert len(fake.calls_for("get_gigaspot")) == 1


async def test_refused_connection_is_not_ambiguous() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with make_client(f"http://127.0.0.1:{port}", read_attempts=1) as client:
        with pytest.raises(e.CloreConnectionError) as info:
            await client.create_gigaspot_orders(ALICE_KEY, [ORDER])
    assert not info.value.ambiguous


async def test_unknown_endpoint_is_code_4(fake: FakeClore, client: CloreClient) -> None:
    with pytest.raises(e.CloreInvalidEndpoint):
        await client._read("no_such_thing", ALICE_KEY, dict)


async def test_key_never_reaches_logs(
    fake: FakeClore, client: CloreClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail("get_gigaspot", "http", status=500)
    fake.fail("create_gigaspot_orders", "drop", apply=True)
    await client.get_gigaspot(ALICE_KEY)
    with pytest.raises(e.CloreConnectionError):
        await client.create_gigaspot_orders(ALICE_KEY, [ORDER])
    assert caplog.records  # the retry was logged...
    assert all(ALICE_KEY not in r.getMessage() for r in caplog.records)  # ...without the key
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
