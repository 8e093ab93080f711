"""Builds the parts from settings: engine, blob store, policy, clock, hash key.

Everything is built on first use, so a command that needs no index opens none;
each part's modules are imported when it is built, so a command that only
searches loads no IMAP client, ingest pipeline or key store.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from gallra.errors import ConfigError
from gallra.settings import ImapSourceSettings, Settings
from models.clock import Clock, FixedClock, SystemClock, local_date
from models.errors import InvalidInput

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlmodel import Session

    from ingest.imap import ImapConfig
    from ingest.mail import MailIngestor
    from ingest.recordings import RecordingIngestor
    from ingest.tagging import TaggingRules
    from models.policy import Policy
    from storage.blobs import BlobStore
    from storage.keystore import KeyStore, MasterKey
    from storage.source_copies import SourceEraser

__all__ = ["App", "parse_now"]


def parse_now(text: str) -> Clock:
    """`--now` as a date (noon Stockholm) or an ISO datetime with a timezone."""
    try:
        if len(text) == 10:
            return FixedClock.on(date.fromisoformat(text))
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput("--now: expected YYYY-MM-DD or an ISO datetime with offset") from None
    if moment.tzinfo is None:
        raise InvalidInput("--now: a datetime needs a UTC offset, e.g. 2027-01-01T02:00+01:00")
    return FixedClock(moment)


@dataclass
class App:
    """The configured parts of one gallra process."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)

    def close(self) -> None:
        """Close the connection pools this app opened (index and key store)."""
        if "engine" in self.__dict__:
            self.engine.dispose()
        if "keystore" in self.__dict__:
            self.keystore.engine.dispose()

    @property
    def today(self) -> date:
        """Today in Stockholm by this app's clock."""
        return local_date(self.clock.now())

    @cached_property
    def engine(self) -> Engine:
        """The index engine (not migrated: see `require_index`)."""
        from storage.engine import make_engine

        return make_engine(self.settings.index_url)

    def has_index(self) -> bool:
        """Whether the index exists and is migrated (creates nothing)."""
        from storage.engine import current_revision

        url = self.settings.index_url
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            return False
        return current_revision(self.engine) is not None

    def require_index(self) -> Engine:
        """The engine of an initialised index; ConfigError naming the fix otherwise."""
        if not self.has_index():
            raise ConfigError("index: not initialised; run `gallra init` first")
        return self.engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session on the initialised index; commits on success, rolls back on error."""
        from storage.engine import transaction

        with transaction(self.require_index()) as session:
            yield session

    @cached_property
    def policy(self) -> Policy:
        """The retention policy in force."""
        from models.policy import load_policy

        return load_policy(self.settings.policy.path)

    def read_master_key(self) -> MasterKey:
        """The master key from GALLRA_MASTER_KEY or the key file; ConfigError naming the fix."""
        from gallra.master_key import read_master_key

        return read_master_key(self.settings)

    @cached_property
    def keystore(self) -> KeyStore:
        """The key store, checked against the master key (see gallra.master_key)."""
        from gallra.master_key import open_keystore

        return open_keystore(self.settings)

    def reread_master_key(self) -> None:
        """Take the master key again if a rotation replaced it since the key store opened.

        Jobs call this once they hold the exclusive lock: one that waited for a
        rotation to finish would otherwise unwrap under the old key.
        """
        if "keystore" in self.__dict__:
            from gallra.master_key import reread

            reread(self.settings, self.keystore)

    @cached_property
    def stored_blobs(self) -> BlobStore:
        """The configured store as it is: ciphertext when encryption is on."""
        blobs = self.settings.blobs
        if blobs.backend == "local":
            from storage.local import LocalBlobStore

            return LocalBlobStore(self.settings.blob_path)
        from storage.s3 import S3BlobStore, make_s3_client

        if not blobs.bucket:
            raise ConfigError("blobs.bucket: required when blobs.backend = 's3'")
        return S3BlobStore(
            make_s3_client(endpoint_url=blobs.endpoint_url, region=blobs.region),
            blobs.bucket,
            prefix=blobs.prefix,
            server_side_encryption=blobs.server_side_encryption,
            multipart_threshold=blobs.multipart_threshold_mb * 1024 * 1024,
        )

    @cached_property
    def blobs(self) -> BlobStore:
        """The blob store everything reads and writes through (encrypting by default)."""
        if not self.settings.keys.encrypt:
            if self.settings.keys.url or (self.settings.home / "keys.db").exists():
                raise ConfigError(
                    "keys.encrypt = false, but this archive has a key store: its blobs are "
                    "encrypted and would be read as ciphertext; remove the setting"
                )
            return self.stored_blobs
        from storage.encrypted import EncryptedBlobStore

        return EncryptedBlobStore(self.stored_blobs, self.keystore, self.clock)

    def bind_keys(self, blob_keys: list[str] | None = None) -> int:
        """Give new or re-tagged blobs' keys to their subjects (no-op without encryption).

        Without `blob_keys`: the blobs still held by the master key (what an
        ingest just stored).
        """
        if not self.settings.keys.encrypt:
            return 0
        from storage.keybinding import bind_keys, bind_unassigned

        now = self.clock.now()
        if blob_keys is None:
            return bind_unassigned(self.require_index(), self.keystore, now)
        return bind_keys(self.require_index(), self.keystore, now, blob_keys)

    @cached_property
    def tagging_rules(self) -> TaggingRules:
        """How mail is tied to people, from the mail settings."""
        from ingest.tagging import TaggingRules

        mail = self.settings.mail
        return TaggingRules.build(
            own_addresses=mail.own_addresses,
            bulk_domains=mail.bulk_domains,
            skip_bulk=mail.skip_bulk,
            accounting_patterns=mail.accounting_patterns,
            max_addresses=mail.max_addresses,
            max_new_prospects=mail.max_new_prospects,
        )

    def mail_ingestor(self, *, extra_own: tuple[str, ...] = ()) -> MailIngestor:
        """The mail pipeline wired to this app's index, store, policy and clock."""
        from ingest.mail import MailIngestor

        rules = self.tagging_rules
        if extra_own:
            rules = dataclasses.replace(
                rules,
                own_addresses=rules.own_addresses | {a.strip().lower() for a in extra_own},
            )
        workers = self.settings.mail.parse_workers
        return MailIngestor(
            self.require_index(),
            self.blobs,
            self.policy,
            rules,
            self.clock,
            parse_workers=os.cpu_count() or 1 if workers is None else workers,
            max_parse_bytes=self.settings.mail.max_parse_mb * 1024 * 1024,
        )

    def imap_config(self, source: ImapSourceSettings) -> ImapConfig:
        """How to reach a configured IMAP source (its secret read now).

        Plain IMAP (no TLS) sends the password in clear: refused to anything but
        this machine unless the source says `allow_plaintext = true`.
        """
        from ingest.imap import ImapConfig

        loopback = source.host in ("127.0.0.1", "::1", "localhost")
        if source.security == "none" and not loopback and not source.allow_plaintext:
            raise ConfigError(
                f"mail source {source.name}: plain IMAP to {source.host} sends the password "
                'in clear; use security = "tls" or "starttls" (or allow_plaintext = true)'
            )
        return ImapConfig(
            name=source.name,
            host=source.host,
            port=source.port,
            user=source.user,
            secret=source.secret(),
            security=source.security,
            oauth2=bool(source.oauth2_token_env),
            folders=tuple(source.folders),
            ca_file=str(source.ca_file) if source.ca_file else None,
        )

    def source_erasers(self) -> dict[str, SourceEraser]:
        """Erasers for the sources configured to enforce retention on the server."""
        from ingest.imap import ImapMailbox
        from ingest.imap_eraser import ImapEraser

        erasers: dict[str, SourceEraser] = {}
        for source in self.settings.mail.sources:
            if source.enforce_retention:
                erasers[f"imap:{source.name}"] = ImapEraser(
                    functools.partial(ImapMailbox, self.imap_config(source))
                )
        return erasers

    def recording_ingestor(
        self, *, after_store: Literal["delete", "keep", "move"] | None = None
    ) -> RecordingIngestor:
        """The recordings pipeline with the configured checks."""
        from ingest.recordings import RecordingIngestor, RecordingRules

        rec = self.settings.recordings
        rules = RecordingRules(
            quarantine=rec.quarantine or self.settings.home / "quarantine",
            allowed=tuple(rec.allowed),
            stable_seconds=rec.stable_seconds,
            after_store=after_store or rec.after_store,
            move_to=rec.move_to,
            special_category=rec.special_category,
        )
        return RecordingIngestor(self.require_index(), self.blobs, self.policy, self.clock, rules)

    @cached_property
    def hash_key(self) -> bytes:
        """The secret for keyed hashes."""
        return self.settings.hash_key_bytes()
