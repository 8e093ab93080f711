"""Errors of the storage layer.

Tree::

    models.errors.GallraError
    +-- StorageError             a store or the index failed
        +-- BlobNotFound         no blob under that key
        +-- BlobIntegrityError   bytes read or written do not match their sha256
        |   +-- BlobTampered     an encrypted blob fails authentication
        +-- KeyUnavailable       a blob's data key is destroyed (crypto-shredded) or missing
        +-- MasterKeyError       the master key is missing, malformed or the wrong one
        +-- BadBlobKey           a key that could escape the store or is malformed
        +-- LedgerBroken         the deletion ledger's hash chain does not verify
        +-- JobRunning           a job that must run alone (sweep, restore, key rotation)
                                 found another one running and waited long enough

Messages name keys and item ids (opaque), never personal data.
"""

from __future__ import annotations

from models.errors import GallraError

__all__ = [
    "BadBlobKey",
    "BlobIntegrityError",
    "BlobNotFound",
    "BlobTampered",
    "JobRunning",
    "KeyUnavailable",
    "LedgerBroken",
    "MasterKeyError",
    "StorageError",
    "StorageUnavailable",
]


class StorageError(GallraError):
    """A blob store or the index failed."""


class StorageUnavailable(StorageError):
    """A storage part (an S3 endpoint) cannot be reached; the message names it and its address."""


class BlobNotFound(StorageError):
    """No blob under that key."""


class BlobIntegrityError(StorageError):
    """Bytes do not match the sha256 they were stored under."""


class BadBlobKey(StorageError):
    """A key that is empty, absolute, has '..' or characters outside [A-Za-z0-9/._-]."""


class LedgerBroken(StorageError):
    """The deletion ledger does not verify."""


class BlobTampered(BlobIntegrityError):
    """An encrypted blob failed authentication: altered, truncated or not ours."""


class KeyUnavailable(StorageError):
    """No usable data key for a blob: destroyed (crypto-shredded) or never recorded."""


class MasterKeyError(StorageError):
    """The master key is missing, malformed or not the one the key store was made with."""


class JobRunning(StorageError):
    """Another sweep, restore or key rotation holds the index's exclusive lock."""
