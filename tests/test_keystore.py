"""The key store on SQLite and PostgreSQL: wrapping, binding to people, shredding, rotation."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from storage.errors import KeyUnavailable, MasterKeyError
from storage.keystore import MASTER, KeyStore, MasterKey, data_key_wrap, subject_key

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


def test_two_writers_making_the_same_blobs_key_agree(
    keys: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN another process makes a blob's key between this one's read and insert
    THEN this one takes that key instead of failing or making a second one."""
    other = KeyStore(keys.engine, keys.master)
    original = KeyStore._readable
    raced: list[bytes] = []

    def read_then_lose_the_race(self: KeyStore, blob_keys: list[str], **kw: bool) -> object:
        found = original(self, blob_keys, **kw)
        if self is keys and not raced:
            raced.append(other.data_keys_for_write(blob_keys, NOW)["mail/same"])
        return found

    monkeypatch.setattr(KeyStore, "_readable", read_then_lose_the_race)
    assert keys.data_keys_for_write(["mail/same"], NOW)["mail/same"] == raced[0]
    assert keys.holders() == {"mail/same": {MASTER}}


def test_a_key_left_without_holders_is_replaced_when_its_blob_comes_again(
    keys: KeyStore,
) -> None:
    keys.data_keys_for_write(["att/x"], NOW)
    keys.bind({"att/x": {5}}, NOW)
    keys.destroy_subject_keys([5], NOW)
    fresh = keys.data_keys_for_write(["att/x"], NOW)["att/x"]
    assert keys.data_key("att/x") == fresh


def test_a_bind_racing_another_bind_starts_again(
    keys: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys.data_keys_for_write(["a", "b"], NOW)
    other = KeyStore(keys.engine, keys.master)
    original = KeyStore._subject_keys_in
    raced: list[int] = []

    def lose_the_race(self: KeyStore, db: object, ids: set[int]) -> object:
        if self is keys and not raced:
            raced.append(other.bind({"a": {4}, "b": {4}}, NOW))
        return original(self, db, ids)  # type: ignore[arg-type]

    monkeypatch.setattr(KeyStore, "_subject_keys_in", lose_the_race)
    assert keys.bind({"a": {4}, "b": {4}}, NOW) == 0  # the other did it all
    assert raced == [2] and keys.holders() == {"a": {4}, "b": {4}}
