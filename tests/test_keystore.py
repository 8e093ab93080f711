"""The key store on SQLite and PostgreSQL: wrapping, binding to people, shredding, rotation."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

import pytest
from sqlalchemy import Engine, select

from storage.errors import KeyUnavailable, MasterKeyError
from storage.keystore import MASTER, KeyStore, MasterKey, data_key_wrap, subject_key

T = TypeVar("T")
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.fixture
def keys(engine: Engine) -> KeyStore:
    store = KeyStore(engine, MasterKey(os.urandom(32)))
    store.create(NOW)
    return store


def test_data_keys_are_made_once_and_stored_only_wrapped(keys: KeyStore) -> None:
    made = keys.data_keys_for_write(["mail/a", "mail/b"], NOW)
    again = keys.data_keys_for_write(["mail/a", "mail/c"], NOW)
    assert again["mail/a"] == made["mail/a"] and made["mail/a"] != made["mail/b"]
    assert keys.holders() == {"mail/a": {MASTER}, "mail/b": {MASTER}, "mail/c": {MASTER}}
    with keys.engine.connect() as db:
        stored = b"".join(db.execute(select(data_key_wrap.c.wrapped)).scalars())
    for secret in made.values():
        assert secret not in stored


def test_binding_moves_a_key_to_its_people_and_shredding_one_spares_the_other(
    keys: KeyStore,
) -> None:
    secrets = keys.data_keys_for_write(["own", "shared", "loose"], NOW)
    assert keys.bind({"own": {7}, "shared": {7, 8}, "loose": set()}, NOW) == 2
    assert keys.holders() == {"own": {7}, "shared": {7, 8}, "loose": {MASTER}}
    assert keys.data_key("shared") == secrets["shared"]
    assert keys.destroy_subject_keys([7], NOW, deleted={7: "2026-01-01T00:00:00+00:00"}) == [7]
    with pytest.raises(KeyUnavailable, match="blob own: no data key"):
        keys.data_key("own")
    assert keys.data_key("shared") == secrets["shared"]  # still held by person 8
    assert keys.live_subject_keys() == {8}
    assert keys.deleted_subjects() == {7: "2026-01-01T00:00:00+00:00"}
    with keys.engine.connect() as db:
        row = db.execute(select(subject_key).where(subject_key.c.subject_id == 7)).one()
    assert row.wrapped is None and row.destroyed_at is not None


def test_a_person_who_returns_gets_a_new_key(keys: KeyStore) -> None:
    keys.data_keys_for_write(["one"], NOW)
    keys.bind({"one": {3}}, NOW)
    keys.destroy_subject_keys([3], NOW)
    secret = keys.data_keys_for_write(["two"], NOW)["two"]
    keys.bind({"two": {3}}, NOW)
    assert keys.data_key("two") == secret and keys.live_subject_keys() == {3}


def test_forgotten_data_keys_are_gone(keys: KeyStore) -> None:
    keys.data_keys_for_write(["x", "y"], NOW)
    keys.forget(["x", "x", "missing"])
    with pytest.raises(KeyUnavailable):
        keys.data_key("x")
    assert set(keys.data_keys()) == {"y"}


def test_rotation_rewraps_without_changing_data_keys(keys: KeyStore) -> None:
    secrets = keys.data_keys_for_write(["held", "loose"], NOW)
    keys.bind({"held": {5}}, NOW)
    old = keys.master
    new = MasterKey(os.urandom(32))
    assert keys.rotate(new) == {"subject_keys": 1, "data_keys": 1}
    assert keys.data_key("held") == secrets["held"] and keys.data_key("loose") == secrets["loose"]
    stale = KeyStore(keys.engine, old)
    with pytest.raises(MasterKeyError, match="is not the key store's"):
        stale.check_master()
    with pytest.raises(MasterKeyError, match="does not unwrap"):
        stale.data_key("loose")


def test_master_key_text_is_checked_without_echoing_it() -> None:
    with pytest.raises(MasterKeyError, match="from GALLRA_MASTER_KEY: must be 32 bytes") as bad:
        MasterKey.parse("c2hvcnQ=", where="GALLRA_MASTER_KEY")
    assert "c2hvcnQ" not in str(bad.value)
    key = MasterKey(os.urandom(32))
    assert key.key.hex() not in repr(key)


def _at_once(*calls: Callable[[], T]) -> list[T]:
    """Run the calls in threads released together by a barrier; their results, in order."""
    import threading

    barrier = threading.Barrier(len(calls))
    results: dict[int, T] = {}

    def run(index: int, call: Callable[[], T]) -> None:
        barrier.wait()
        results[index] = call()

    workers = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return [results[index] for index in range(len(calls))]


def test_two_writers_making_one_blob_key_at_once_agree_on_it(keys: KeyStore) -> None:
    """GIVEN two key stores (as two processes) that make the same blobs' keys at the same
    moment, forty times over THEN each blob has one key, both got that key, and neither
    failed: the one that lost the insert reads the winner's key."""
    other = KeyStore(keys.engine, keys.master)
    for n in range(40):
        blob = f"mail/same-{n}"
        got = _at_once(
            partial(keys.data_keys_for_write, [blob], NOW),
            partial(other.data_keys_for_write, [blob], NOW),
        )
        assert got[0][blob] == got[1][blob] == keys.data_key(blob)
    assert all(holders == {MASTER} for holders in keys.holders().values())


def test_a_key_left_without_holders_is_replaced_when_its_blob_comes_again(
    keys: KeyStore,
) -> None:
    keys.data_keys_for_write(["att/x"], NOW)
    keys.bind({"att/x": {5}}, NOW)
    keys.destroy_subject_keys([5], NOW)
    fresh = keys.data_keys_for_write(["att/x"], NOW)["att/x"]
    assert keys.data_key("att/x") == fresh


def test_two_binds_at_once_end_with_each_key_held_once(keys: KeyStore) -> None:
    """GIVEN two key stores binding the same blobs to the same person at the same moment,
    twenty times over THEN every blob is held by that person exactly, and the binds
    together report each change once."""
    other = KeyStore(keys.engine, keys.master)
    for n in range(20):
        blobs = [f"a-{n}", f"b-{n}"]
        keys.data_keys_for_write(blobs, NOW)
        wanted = {blob: {4} for blob in blobs}
        changed = _at_once(partial(keys.bind, wanted, NOW), partial(other.bind, wanted, NOW))
        assert sum(changed) == 2
        assert {blob: keys.holders()[blob] for blob in blobs} == wanted
