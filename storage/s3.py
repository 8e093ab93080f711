"""The S3 blob store: the only module that imports boto3.

Uploads stream through boto3's managed transfer (multipart above a
threshold), hashing on the way; every put asks for server-side encryption.
On a versioned bucket a delete removes every version and delete marker by
VersionId, since a plain delete there only hides the object.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from storage.blobs import DeleteOutcome, HashingReader, StoredBlob, check_key
from storage.errors import BlobIntegrityError, BlobNotFound, StorageError, StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

__all__ = ["S3BlobStore", "make_s3_client"]

_BATCH = 1000  # DeleteObjects takes at most 1000 keys
_LIST_ALL_ABOVE = 200  # above this many keys, one listing beats one per key
_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}


def make_s3_client(*, endpoint_url: str = "", region: str = "eu-north-1") -> S3Client:
    """A boto3 S3 client; credentials come from the usual AWS env vars or files."""
    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        s3={"addressing_style": "path"} if endpoint_url else {},
        max_pool_connections=16,
    )
    return boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region, config=config)


_DOWN = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, BotoConnectionError)


def _named(where: Callable[[], str], method: Callable[..., Any]) -> Callable[..., Any]:
    """`method` with an unreachable endpoint named in one line (StorageUnavailable)."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            result = method(*args, **kwargs)
        except _DOWN as exc:
            raise StorageUnavailable(f"{where()}: unreachable ({type(exc).__name__})") from None
        if inspect.isgenerator(result):
            return _named_items(where, result)
        return result

    return call


def _named_items(where: Callable[[], str], items: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from items
    except _DOWN as exc:
        raise StorageUnavailable(f"{where()}: unreachable ({type(exc).__name__})") from None


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3BlobStore:
    """Blobs as objects in one bucket under an optional prefix."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        *,
        prefix: str = "",
        server_side_encryption: str = "AES256",
        multipart_threshold: int = 16 * 1024 * 1024,
        part_size: int = 8 * 1024 * 1024,
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._sse = server_side_encryption
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=part_size,
            max_concurrency=4,
        )
        self._versioned: bool | None = None
        for name in ("put", "put_many", "delete", "exists", "modified", "remaining", "keys"):
            setattr(self, name, _named(self._where, getattr(self, name)))

    def _where(self) -> str:
        """The part and its address, for an error: `S3 http://host:9000 (bucket b)`."""
        return f"S3 {self._client.meta.endpoint_url} (bucket {self.bucket})"

    @property
    def description(self) -> str:
        """Bucket and prefix."""
        return f"s3://{self.bucket}/{self.prefix}"

    def _full(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _is_versioned(self) -> bool:
        if self._versioned is None:
            status = self._client.get_bucket_versioning(Bucket=self.bucket).get("Status")
            self._versioned = status in ("Enabled", "Suspended")
        return self._versioned

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        expected_sha256: str | None = None,
        hashed: bool = True,
    ) -> StoredBlob:
        """Stream to the bucket (multipart above the threshold), hashing as it goes."""
        full = self._full(key)
        reader = HashingReader(stream, hashed=hashed or expected_sha256 is not None)
        extra: dict[str, Any] = {}
        if self._sse != "none":
            extra["ServerSideEncryption"] = self._sse
        try:
            self._client.upload_fileobj(
                cast(BinaryIO, reader), self.bucket, full, ExtraArgs=extra, Config=self._transfer
            )
        except _DOWN:
            raise  # named by the wrapper: the part and its address
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"blob {key}: upload to {self.description} failed ({exc})") from exc
        if expected_sha256 is not None and reader.sha256 != expected_sha256:
            self.delete([key])
            raise BlobIntegrityError(f"blob {key}: sha256 of the bytes written does not match")
        return StoredBlob(key=key, sha256=reader.sha256, size=reader.size)

    def put_many(
        self, payloads: Mapping[str, tuple[bytes, str]], *, verify: bool = True
    ) -> dict[str, StoredBlob]:
        """Small objects uploaded four at a time (network waits overlap)."""
        for key, (data, sha) in payloads.items():
            if verify and hashlib.sha256(data).hexdigest() != sha:
                raise BlobIntegrityError(f"blob {key}: sha256 of the bytes does not match")
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = {
                key: pool.submit(
                    self.put, key, io.BytesIO(data), expected_sha256=sha if verify else None
                )
                for key, (data, sha) in payloads.items()
            }
            return {key: future.result() for key, future in futures.items()}

    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        """The object's body as a stream."""
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._full(key))
        except _DOWN as exc:
            raise StorageUnavailable(
                f"{self._where()}: unreachable ({type(exc).__name__})"
            ) from None
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                raise BlobNotFound(f"blob {key}: not in {self.description}") from None
            raise StorageError(f"blob {key}: read failed ({_code(exc)})") from exc
        body = response["Body"]
        try:
            yield cast(BinaryIO, body)
        finally:
            body.close()

    def _versions_of(self, full_keys: set[str]) -> list[ObjectIdentifierTypeDef]:
        """Every (Key, VersionId) of the given keys, delete markers included."""
        found: list[ObjectIdentifierTypeDef] = []
        prefixes = [self.prefix] if len(full_keys) > _LIST_ALL_ABOVE else sorted(full_keys)
        paginator = self._client.get_paginator("list_object_versions")
        for prefix in prefixes:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                    if entry.get("Key") in full_keys:
                        found.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
        return found

    def delete(self, keys: Iterable[str]) -> DeleteOutcome:
        """Delete every copy, in DeleteObjects batches of up to 1000."""
        by_full = {self._full(key): key for key in keys}
        outcome = DeleteOutcome()
        if not by_full:
            return outcome
        try:
            targets: list[ObjectIdentifierTypeDef]
            if self._is_versioned():
                targets = self._versions_of(set(by_full))
            else:
                targets = [{"Key": full} for full in by_full]
            failed: dict[str, str] = {}
            for start in range(0, len(targets), _BATCH):
                batch = targets[start : start + _BATCH]
                response = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
                for error in response.get("Errors", []):
                    full = error.get("Key", "")
                    failed[by_full.get(full, full)] = error.get("Code", "error")
        except _DOWN:
            raise  # named by the wrapper: the part and its address
        except (BotoCoreError, ClientError) as exc:
            reason = _code(exc) if isinstance(exc, ClientError) else type(exc).__name__
            outcome.failed = dict.fromkeys(by_full.values(), reason)
            return outcome
        outcome.failed = failed
        outcome.deleted = [key for key in by_full.values() if key not in failed]
        return outcome

    def exists(self, key: str) -> bool:
        """Any version or delete marker left counts as existing on a versioned bucket."""
        full = self._full(key)
        if self._is_versioned():
            return bool(self._versions_of({full}))
        try:
            self._client.head_object(Bucket=self.bucket, Key=full)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return False
            raise StorageError(f"blob {key}: check failed ({_code(exc)})") from exc
        return True

    def modified(self, key: str) -> datetime | None:
        """The object's LastModified."""
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self._full(key))
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return None
            raise StorageError(f"blob {key}: check failed ({_code(exc)})") from exc
        return head["LastModified"]

    def remaining(self, keys: Iterable[str]) -> set[str]:
        """Keys of which any version, marker or current object is left (one listing for many)."""
        by_full = {self._full(key): key for key in keys}
        if not by_full:
            return set()
        if self._is_versioned():
            return {by_full[v["Key"]] for v in self._versions_of(set(by_full))}
        if len(by_full) <= _LIST_ALL_ABOVE:
            return {key for key in by_full.values() if self.exists(key)}
        present: set[str] = set()
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            present |= {by_full[e["Key"]] for e in page.get("Contents", []) if e["Key"] in by_full}
        return present

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every current key under `prefix`."""
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for entry in page.get("Contents", []):
                yield entry["Key"][len(self.prefix) :]
