"""One typed settings object, built on demand (never at import).

Sources, strongest first: environment variables (prefix ``GALLRA_``, nested
sections joined by ``__``, e.g. ``GALLRA_BLOBS__BACKEND=s3``), then
``gallra.toml`` in ``GALLRA_HOME``, then defaults. Secrets (the hash key, IMAP
passwords, S3 keys) come only from environment variables or files, are held as
SecretStr and are never printed; a secret found in gallra.toml is refused.

Over 300 lines because it is the one typed settings object, every section of
it.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gallra.errors import ConfigError

__all__ = [
    "BackupSettings",
    "BlobSettings",
    "ImapSourceSettings",
    "IndexSettings",
    "KeySettings",
    "MailSettings",
    "PolicySettings",
    "RecordingSettings",
    "Settings",
    "WebSettings",
    "default_home",
    "get_settings",
]

_PLACEHOLDERS = {"changeme", "change-me", "secret", "password", "xxx", "todo"}
_SECRET_KEYS = {
    "hash_key",
    "master_key",
    "password",
    "secret_access_key",
    "aws_secret_access_key",
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IndexSettings(_Section):
    """Where the index lives: a SQLite file by default, PostgreSQL by URL."""

    url: str = ""  # empty: sqlite file index.db in GALLRA_HOME


class BlobSettings(_Section):
    """Where raw bytes live: a local folder (default) or an S3-compatible bucket."""

    backend: Literal["local", "s3"] = "local"
    path: Path | None = None  # local: defaults to GALLRA_HOME/blobs
    bucket: str = ""
    prefix: str = ""
    endpoint_url: str = ""
    region: str = "eu-north-1"
    server_side_encryption: Literal["AES256", "aws:kms", "none"] = "AES256"
    multipart_threshold_mb: int = 16


class KeySettings(_Section):
    """Encryption at rest: the key store and where the master key comes from."""

    encrypt: bool = True  # every blob encrypted with its own data key
    url: str = ""  # the key store; empty: sqlite file keys.db in GALLRA_HOME
    master_key_file: Path | None = None  # default: GALLRA_HOME/secrets/master.key


class BackupSettings(_Section):
    """Encrypted index backups in the blob store."""

    retention_days: int = 30  # the longest an erased person can remain in a backup
    nightly: bool = True  # the nightly flow backs up after the sweep


class ImapSourceSettings(_Section):
    """One IMAP mailbox to pull."""

    name: str  # opaque label used in the index, reports and Prefect (never an address)
    host: str
    port: int = 993
    security: Literal["tls", "starttls", "none"] = "tls"
    allow_plaintext: bool = False  # "none" to a host other than this machine needs this
    ca_file: Path | None = None  # trust this CA (a practice's own server); default: system CAs
    user: str
    password_env: str = ""  # name of the env var holding the password
    password_file: Path | None = None
    oauth2_token_env: str = ""  # XOAUTH2 instead of a password
    folders: list[str] = []  # default: INBOX and the \Sent folder
    ingest_delay_hours: int = 0
    after_store: Literal["leave", "move", "delete"] = "leave"
    move_to: str = ""
    enforce_retention: bool = False  # the sweep also deletes the server copy

    def secret(self) -> str:
        """The password or OAuth2 token, from its env var or file."""
        if self.oauth2_token_env:
            value = os.environ.get(self.oauth2_token_env, "")
            if not value:
                raise ConfigError(
                    f"mail source {self.name}: env var {self.oauth2_token_env} is empty"
                )
            return value
        if self.password_file is not None:
            try:
                return self.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"mail source {self.name}: password file: {exc.strerror}"
                ) from None
        if self.password_env:
            value = os.environ.get(self.password_env, "")
            if not value:
                raise ConfigError(f"mail source {self.name}: env var {self.password_env} is empty")
            return value
        raise ConfigError(
            f"mail source {self.name}: set password_env, password_file or oauth2_token_env"
        )


class MailSettings(_Section):
    """How mail is pulled and tagged."""

    own_addresses: list[str] = []  # the practice's addresses: never tagged as people
    bulk_domains: list[str] = []
    skip_bulk: bool = True
    accounting_patterns: list[str] = ["faktura", "invoice", "kvitto", "receipt", "verifikat"]
    batch_size: int = Field(100, ge=1)  # messages per fetch and commit
    batch_megabytes: int = Field(16, ge=1)  # ... and at most this much a batch (memory bound)
    parse_workers: int | None = None  # processes parsing MIME; default: one per CPU; 0: inline
    max_addresses: int = Field(100, ge=1)  # a message naming more is tied to nobody, flagged
    max_new_prospects: int = Field(20, ge=0)  # people registered from one message at most
    max_parse_mb: int = Field(50, ge=1)  # larger messages: stored whole, headers indexed, flagged
    sources: list[ImapSourceSettings] = []

    @property
    def batch_bytes(self) -> int:
        """The byte bound of a batch."""
        return self.batch_megabytes * 1024 * 1024


class RecordingSettings(_Section):
    """Where recordings come from and how they are checked."""

    folders: list[Path] = []  # drop folders
    s3_inbox_bucket: str = ""  # an S3 prefix used as an inbox (same endpoint as blobs)
    s3_inbox_prefix: str = ""
    quarantine: Path | None = None  # default: GALLRA_HOME/quarantine
    allowed: list[str] = ["audio/*", "video/*"]  # MIME patterns, read from the bytes
    stable_seconds: int = 60  # a file must be unchanged this long (still being copied?)
    after_store: Literal["delete", "keep", "move"] = "delete"
    move_to: Path | None = None
    special_category: bool = True


class WebSettings(_Section):
    """The coach's web page."""

    host: str = "127.0.0.1"  # loopback only unless a TLS proxy sits in front
    port: int = 8787
    allowed_hosts: list[str] = []  # names in the Host header besides loopback (a proxy's)
    secure_cookies: bool = False  # set true behind HTTPS so cookies never travel in clear
    max_inline_mb: int = 25  # larger e-mails are offered as a download, not parsed for display


class NotifySettings(_Section):
    """The e-mail to the practice after a nightly run that found something needing a person.

    Content-free: counts and a link to the page, never a name, an address or a
    subject line. Off until `to` is set.
    """

    to: list[str] = []  # the practice's address(es); empty: no e-mail
    from_address: str = ""  # default: the first of `to`
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    user: str = ""
    password_env: str = ""
    password_file: Path | None = None
    page_url: str = "http://127.0.0.1:8787/"  # the link in the e-mail
    language: Literal["sv", "en"] = "sv"
    timeout_seconds: float = 30.0
    due_within_days: int = 7  # requests due this soon (or overdue) are told

    def password(self) -> str:
        """The SMTP password from its env var or file ("" when no login is used)."""
        if self.password_file is not None:
            try:
                return self.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"notify: password file: {exc.strerror}") from None
        if self.password_env:
            value = os.environ.get(self.password_env, "")
            if not value:
                raise ConfigError(f"notify: env var {self.password_env} is empty")
            return value
        return ""


class PolicySettings(_Section):
    """Which retention policy file applies (the shipped default when unset)."""

    path: Path | None = None


class Settings(BaseSettings):
    """Everything gallra is configured by."""

    model_config = SettingsConfigDict(
        env_prefix="GALLRA_", env_nested_delimiter="__", extra="forbid"
    )

    home: Path
    hash_key: SecretStr | None = None
    hash_key_file: Path | None = None
    master_key: SecretStr | None = None  # env GALLRA_MASTER_KEY
    index: IndexSettings = IndexSettings()
    blobs: BlobSettings = BlobSettings()
    keys: KeySettings = KeySettings()
    backup: BackupSettings = BackupSettings()
    policy: PolicySettings = PolicySettings()
    mail: MailSettings = MailSettings()
    recordings: RecordingSettings = RecordingSettings()
    web: WebSettings = WebSettings()
    notify: NotifySettings = NotifySettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats gallra.toml (passed as init values), which beats defaults.
        return (env_settings, init_settings)

    @property
    def index_url(self) -> str:
        """SQLAlchemy URL of the index."""
        return self.index.url or f"sqlite:///{self.home / 'index.db'}"

    @property
    def blob_path(self) -> Path:
        """Folder of the local blob store."""
        return self.blobs.path or self.home / "blobs"

    @property
    def keystore_url(self) -> str:
        """SQLAlchemy URL of the key store (apart from the index)."""
        return self.keys.url or f"sqlite:///{self.home / 'keys.db'}"

    @property
    def master_key_path(self) -> Path:
        """Where the master key is read from when not given in the environment."""
        return self.keys.master_key_file or self.home / "secrets" / "master.key"

    @property
    def next_master_key_path(self) -> Path:
        """Where `gallra keys rotate` writes the new master key before it takes over."""
        return self.master_key_path.with_name(self.master_key_path.name + ".next")

    @property
    def key_file(self) -> Path:
        """Where the hash key is read from when not given in the environment."""
        return self.hash_key_file or self.home / "secrets" / "hash.key"

    def hash_key_bytes(self) -> bytes:
        """The key for keyed hashes (personnummer, marketing blocks)."""
        if self.hash_key is not None:
            value = self.hash_key.get_secret_value()
            if value.strip().lower() in _PLACEHOLDERS or len(value) < 16:
                raise ConfigError("GALLRA_HASH_KEY: refusing a placeholder or a key under 16 chars")
            return value.encode("utf-8")
        try:
            data = self.key_file.read_bytes().strip()
        except FileNotFoundError:
            raise ConfigError(
                f"hash key: none set; run `gallra init`, or set GALLRA_HASH_KEY or "
                f"GALLRA_HASH_KEY_FILE (looked for {self.key_file})"
            ) from None
        except OSError as exc:
            raise ConfigError(f"hash key file {self.key_file}: {exc.strerror}") from None
        if len(data) < 16:
            raise ConfigError(f"hash key file {self.key_file}: key shorter than 16 bytes")
        return data


def default_home() -> Path:
    """GALLRA_HOME, else $XDG_DATA_HOME/gallra, else ~/.local/share/gallra."""
    if env := os.environ.get("GALLRA_HOME"):
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "gallra"


def _find_secret(table: dict[str, Any], where: str = "") -> str | None:
    for key, value in table.items():
        if key in _SECRET_KEYS:
            return f"{where}{key}"
        if isinstance(value, dict) and (found := _find_secret(value, f"{where}{key}.")):
            return found
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if secret := _find_secret(data):
        raise ConfigError(
            f"{path}: '{secret}' is a secret; give it by environment variable or file, "
            "never in gallra.toml"
        )
    return data


def get_settings(home: Path | None = None) -> Settings:
    """Build the settings now from env and HOME/gallra.toml.

    A `home` given here (`--home`) is the home, whatever GALLRA_HOME says:
    the environment beats gallra.toml, but not an explicit choice.
    """
    root = home or default_home()
    values = _read_toml(root / "gallra.toml")
    values["home"] = root
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = "unknown setting" if first["type"] == "extra_forbidden" else first["msg"]
        raise ConfigError(f"setting {where}: {message}") from None
    if settings.home != root:
        settings = settings.model_copy(update={"home": root})
    return settings
