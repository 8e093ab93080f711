"""The master key: read from GALLRA_MASTER_KEY or its file, and kept current across rotations.

A rotation rewraps the key store and then replaces the key file, both under
the exclusive lock. A crash between the two leaves the new key pending next to
the old one: the next start finishes it. A job that waited for a rotation
rereads the key once it holds the lock.
"""

from __future__ import annotations

from gallra.errors import ConfigError
from gallra.settings import Settings
from storage.engine import make_engine
from storage.errors import MasterKeyError
from storage.keystore import KeyStore, MasterKey

__all__ = ["open_keystore", "read_master_key", "reread"]


def read_master_key(settings: Settings) -> MasterKey:
    """The master key from GALLRA_MASTER_KEY or the key file; ConfigError naming the fix."""
    if settings.master_key is not None:
        return MasterKey.parse(settings.master_key.get_secret_value(), where="GALLRA_MASTER_KEY")
    path = settings.master_key_path
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ConfigError(
            f"master key: none set; run `gallra init`, or set GALLRA_MASTER_KEY or "
            f"keys.master_key_file (looked for {path})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"master key file {path}: unreadable ({type(exc).__name__})") from None
    return MasterKey.parse(text, where=str(path))


def open_keystore(settings: Settings) -> KeyStore:
    """The key store, checked against the master key; a crashed rotation is finished."""
    store = KeyStore(make_engine(settings.keystore_url), read_master_key(settings))
    if not store.exists():
        raise ConfigError("key store: not initialised; run `gallra init` first")
    _finish_rotation(settings, store)
    return store


def reread(settings: Settings, store: KeyStore) -> None:
    """Point `store` at the current master key if a rotation replaced the one it holds."""
    try:
        store.check_master()
    except MasterKeyError:
        store.master = read_master_key(settings)
        _finish_rotation(settings, store)


def _finish_rotation(settings: Settings, store: KeyStore) -> None:
    """Check the store's master key; take the rotated key a crash left pending."""
    try:
        store.check_master()
    except MasterKeyError:
        pending = settings.next_master_key_path
        if settings.master_key is not None or not pending.exists():
            raise
        store.master = MasterKey.parse(pending.read_text("ascii"), where=str(pending))
        store.check_master()
        pending.replace(settings.master_key_path)
