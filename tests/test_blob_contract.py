"""One contract for every blob store: local folder, and S3 on moto's server (real HTTP)
with and without bucket versioning, each also behind the encrypting store."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from models.clock import SystemClock
from storage.blobs import BlobStore
from storage.encrypted import EncryptedBlobStore
from storage.engine import make_engine
from storage.errors import BadBlobKey, BlobIntegrityError, BlobNotFound
from storage.keystore import KeyStore, MasterKey
from storage.local import LocalBlobStore
from storage.s3 import S3BlobStore
from tests.conftest import new_bucket

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@pytest.fixture(
    params=[
        "local",
        pytest.param("s3", marks=pytest.mark.integration),
        pytest.param("s3-versioned", marks=pytest.mark.integration),
        "local-encrypted",
        pytest.param("s3-versioned-encrypted", marks=pytest.mark.integration),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    kind = str(request.param)
    inner: BlobStore
    if kind.startswith("local"):
        inner = LocalBlobStore(tmp_path / "blobs")
    else:
        client: S3Client = request.getfixturevalue("s3_client")
        bucket = new_bucket(client, versioned=kind.startswith("s3-versioned"))
        # A small threshold so multipart is exercised with a few MB.
        inner = S3BlobStore(
            client,
            bucket,
            prefix="p",
            multipart_threshold=5 * 1024 * 1024,
            part_size=5 * 1024 * 1024,
        )
    if not kind.endswith("-encrypted"):
        yield inner
        return
    keys = KeyStore(make_engine(f"sqlite:///{tmp_path / 'keys.db'}"), MasterKey(os.urandom(32)))
    keys.create(datetime.now(UTC))
    yield EncryptedBlobStore(inner, keys, SystemClock())


class FailingStream(io.RawIOBase):
    """Yields some bytes, then fails like a dropped connection."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise OSError("source went away")
        n = min(self.left, size if size > 0 else self.left, 1024 * 1024)
        self.left -= n
        return b"x" * n


def test_put_streams_and_reports_hash_and_size(store: BlobStore) -> None:
    data = os.urandom(12 * 1024 * 1024 + 7)  # above the multipart threshold
    stored = store.put("ab/one", io.BytesIO(data))
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)
    with store.open("ab/one") as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == stored.sha256


def test_small_put_round_trips_with_swedish_bytes(store: BlobStore) -> None:
    data = "Hej Åsa, vi ses på måndag. Hälsningar, Örjan".encode()
    store.put("two", io.BytesIO(data))
    with store.open("two") as stream:
        assert stream.read() == data


def test_failed_put_leaves_nothing_behind(store: BlobStore) -> None:
    with pytest.raises(Exception, match=r"source went away|upload"):
        store.put("broken", FailingStream(good=6 * 1024 * 1024))  # type: ignore[arg-type]
    assert not store.exists("broken")
    assert list(store.keys()) == []
    if isinstance(store, LocalBlobStore):
        assert list((store.root / ".tmp").iterdir()) == []


def test_put_with_wrong_expected_hash_is_refused_and_removed(store: BlobStore) -> None:
    with pytest.raises(BlobIntegrityError):
        store.put("c", io.BytesIO(b"abc"), expected_sha256="0" * 64)
    assert not store.exists("c")


def test_delete_removes_every_copy_and_is_idempotent(store: BlobStore) -> None:
    store.put("d/1", io.BytesIO(b"first"))
    store.put("d/1", io.BytesIO(b"second"))  # a second version on a versioned bucket
    store.put("d/2", io.BytesIO(b"other"))
    outcome = store.delete(["d/1", "missing"])
    assert outcome.failed == {}
    assert not store.exists("d/1")
    assert store.exists("d/2")
    with pytest.raises(BlobNotFound):
        store.open("d/1").__enter__()
    assert store.delete(["d/1"]).failed == {}
    assert list(store.keys()) == ["d/2"]


def test_versioned_delete_leaves_no_version_or_marker(store: BlobStore) -> None:
    if not isinstance(store, S3BlobStore):
        pytest.skip("versions exist only on S3")
    client = store._client
    client.put_object(Bucket=store.bucket, Key="p/v", Body=b"1")
    client.put_object(Bucket=store.bucket, Key="p/v", Body=b"2")
    client.delete_object(Bucket=store.bucket, Key="p/v")  # a delete marker
    store.delete(["v"])
    listing = client.list_object_versions(Bucket=store.bucket, Prefix="p/v")
    assert listing.get("Versions", []) == [] and listing.get("DeleteMarkers", []) == []


def test_batch_delete_of_many_keys(store: BlobStore) -> None:
    keys = (
        [f"many/{i:04d}" for i in range(1203)]
        if isinstance(store, LocalBlobStore)
        else [f"many/{i:04d}" for i in range(240)]
    )
    for key in keys:
        store.put(key, io.BytesIO(key.encode()))
    outcome = store.delete(keys)
    assert outcome.failed == {} and len(outcome.deleted) == len(keys)
    assert list(store.keys("many/")) == []


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../b", "", "a//b", "nul\x00", "a b"])
def test_keys_that_could_escape_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(BadBlobKey):
        store.put(key, io.BytesIO(b"x"))


def test_s3_puts_ask_for_server_side_encryption(store: BlobStore) -> None:
    if not isinstance(store, S3BlobStore):
        pytest.skip("S3 only")
    store.put("enc", io.BytesIO(b"x"))
    head = store._client.head_object(Bucket=store.bucket, Key="p/enc")
    assert head.get("ServerSideEncryption") == "AES256"


class TrickleStream(io.RawIOBase):
    """A pipe-like stream: every read returns at most 64 KiB."""

    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self.buffer.read(min(size if size > 0 else 65536, 65536))


def test_short_reads_are_not_taken_for_the_end_of_the_stream(store: BlobStore) -> None:
    """Regression: boto3's transfer manager took a short read for EOF: 2 MB of 12 stored."""
    data = os.urandom(12 * 1024 * 1024)
    stored = store.put("trickle", TrickleStream(data))  # type: ignore[arg-type]
    assert stored.size == len(data)
    with store.open("trickle") as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == hashlib.sha256(data).hexdigest()


def test_modified_time_of_present_and_absent_keys(store: BlobStore) -> None:
    from datetime import timedelta

    store.put("when", io.BytesIO(b"x"))
    written = store.modified("when")
    assert written is not None and abs(datetime.now(UTC) - written) < timedelta(minutes=5)
    assert store.modified("never-written") is None


def test_put_many_stores_every_payload_or_none(store: BlobStore) -> None:
    """GIVEN a batch of payloads THEN each is stored with its hash; one bad hash keeps none."""
    import hashlib

    payloads = {f"mail/{n:02x}/m{n}": (f"meddelande {n} om sömn".encode(), "") for n in range(12)}
    payloads = {k: (d, hashlib.sha256(d).hexdigest()) for k, (d, _) in payloads.items()}
    stored = store.put_many(payloads)
    assert {k: (s.sha256, s.size) for k, s in stored.items()} == {
        k: (sha, len(d)) for k, (d, sha) in payloads.items()
    }
    for key, (data, _) in payloads.items():
        with store.open(key) as stream:
            assert stream.read() == data
    bad = {"x/1": (b"one", hashlib.sha256(b"one").hexdigest()), "x/2": (b"two", "0" * 64)}
    with pytest.raises(BlobIntegrityError):
        store.put_many(bad)
    assert not store.exists("x/1") and not store.exists("x/2")
    if isinstance(store, LocalBlobStore):
        assert list((store.root / ".tmp").iterdir()) == []


def test_local_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """GIVEN the most permissive umask WHEN blobs are put one at a time and in a batch
    THEN every file is readable by its owner only (created so, not narrowed afterwards).
    """
    store = LocalBlobStore(tmp_path / "blobs")
    previous = os.umask(0)
    try:
        store.put("mail/aa/one", io.BytesIO(b"ett samtal"))
        store.put_many({f"mail/{n:02x}/m{n}": (b"anteckning", "") for n in range(3)}, verify=False)
    finally:
        os.umask(previous)
    files = [path for path in store.root.rglob("*") if path.is_file()]
    assert len(files) == 4
    assert {path.stat().st_mode & 0o777 for path in files} == {0o600}
