"""`gallra keys`, `gallra backup` and `gallra restore`: the keys and the index's backups."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gallra.cli.context import app_of
from gallra.cli.init import write_secret
from gallra.cli.output import JsonOpt, emit, group, local_time
from models.errors import InvalidInput

if TYPE_CHECKING:
    from gallra.wiring import App

__all__ = ["backup_cmd", "keys_app", "restore_cmd"]

keys_app = group("Encryption keys: status and master-key rotation.")


def _encrypting(gallra: App) -> None:
    from gallra.errors import ConfigError

    if not gallra.settings.keys.encrypt:
        raise ConfigError("keys: encryption is off (keys.encrypt = false)")


@keys_app.command("status")
def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """How many keys exist, by holder; which master key (by fingerprint) is in use."""
    from sqlalchemy import func, select

    from storage.keystore import MASTER, data_key_wrap, subject_key

    gallra = app_of(ctx)
    _encrypting(gallra)
    store = gallra.keystore
    with store.engine.connect() as db:
        live = db.execute(
            select(func.count()).where(subject_key.c.wrapped.is_not(None))
        ).scalar_one()
        destroyed = db.execute(
            select(func.count()).where(subject_key.c.destroyed_at.is_not(None))
        ).scalar_one()
        by_master = db.execute(
            select(func.count()).where(data_key_wrap.c.holder == MASTER)
        ).scalar_one()
        by_subject = db.execute(
            select(func.count(func.distinct(data_key_wrap.c.blob_key))).where(
                data_key_wrap.c.holder != MASTER
            )
        ).scalar_one()
    data = {
        "master_key": store.master.fingerprint,
        "subject_keys": live,
        "subject_keys_destroyed": destroyed,
        "data_keys_held_by_master": by_master,
        "data_keys_held_by_subjects": by_subject,
    }
    emit(
        data,
        as_json=as_json,
        lines=[
            f"master key {data['master_key']}",
            f"subject keys: {live} live, {destroyed} destroyed",
            f"blob keys: {by_subject} held by people, {by_master} by the master key",
        ],
    )


@keys_app.command("rotate")
def rotate(
    ctx: typer.Context,
    new_key_file: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the new key when the current one comes from GALLRA_MASTER_KEY."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rewrap every key under a new master key; blobs are not re-encrypted.

    With a key file, the new key replaces it once the key store is rewrapped
    (a crash in between is finished on the next start). With GALLRA_MASTER_KEY,
    the new key is written to --new-key-file and the variable must be updated.
    """
    from gallra.errors import ConfigError
    from storage.keystore import MasterKey, new_master_key

    gallra = app_of(ctx)
    _encrypting(gallra)
    store = gallra.keystore
    old = store.master.fingerprint
    text = new_master_key()
    new = MasterKey.parse(text, where="new key")
    from_env = gallra.settings.master_key is not None
    if from_env:
        if new_key_file is None:
            raise ConfigError(
                "keys rotate: the master key comes from GALLRA_MASTER_KEY; give --new-key-file"
            )
        write_secret(new_key_file, text)
        target = new_key_file
    else:
        pending = gallra.settings.next_master_key_path
        pending.unlink(missing_ok=True)  # a leftover of a rotation that never committed
        write_secret(pending, text)
        target = gallra.settings.master_key_path
    from storage.locks import exclusive

    with exclusive(gallra.require_index()):  # no sweep shreds keys while they are rewrapped
        counts = store.rotate(new)
        if not from_env:  # before the lock goes: the job that waited reads the new key
            gallra.settings.next_master_key_path.replace(target)
    data = {"old": old, "new": new.fingerprint, "key_file": str(target), **counts}
    lines = [
        f"master key {old} -> {new.fingerprint}: rewrapped {counts['subject_keys']} subject "
        f"keys and {counts['data_keys']} blob keys",
        f"the new key is in {target}: keep a copy apart from the data; the old one no longer "
        "opens anything here",
    ]
    if from_env:
        lines.append("set GALLRA_MASTER_KEY to the contents of that file before the next run")
    emit(data, as_json=as_json, lines=lines)


def backup_cmd(
    ctx: typer.Context,
    list_only: Annotated[
        bool, typer.Option("--list", help="List the backups; write none.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write an encrypted snapshot of the index to the blob store; prune old ones.

    Backups are kept backup.retention_days (default 30): the longest an
    erased person can remain in one, and then only as ciphertext whose key
    is destroyed.
    """
    from gallra.jobs import backup_now
    from storage.backup import list_backups

    gallra = app_of(ctx)
    if list_only:
        found = list_backups(gallra.blobs)
        emit(
            [asdict(b) for b in found],
            as_json=as_json,
            lines=[f"{b.key}  taken {local_time(b.taken_at)}" for b in found] or ["no backups"],
        )
        return
    result = backup_now(gallra)
    emit(
        asdict(result),
        as_json=as_json,
        lines=[f"backup written: {result.key} ({result.size} bytes before encryption)"]
        + [f"deleted expired backup {k}" for k in result.pruned],
    )


def restore_cmd(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="The backup's key (see `gallra backup --list`).")
    ] = None,
    latest: Annotated[bool, typer.Option("--latest", help="Restore the newest backup.")] = False,
    yes: Annotated[
        bool,
        typer.Option("--yes", envvar="GALLRA_ASSUME_YES", help="Replace the index without asking."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Replace the index with a backup, then re-apply deletions made since it was taken.

    Stop the web page and the nightly run first. Asks on a terminal; give
    --yes (or GALLRA_ASSUME_YES=1) when unattended.
    """
    from storage.backup import list_backups, replay_after_restore, restore_index
    from storage.locks import exclusive

    gallra = app_of(ctx)
    found = list_backups(gallra.blobs)
    if latest == (name is not None):
        raise InvalidInput("restore: give a backup name or --latest (not both)")
    chosen = found[-1] if latest and found else next((b for b in found if b.key == name), None)
    if chosen is None:
        raise InvalidInput(
            f"restore: no backup {name or '(none at all)'}; see `gallra backup --list`"
        )
    if not yes:
        if not sys.stdin.isatty():
            raise InvalidInput("restore: replaces the index; give --yes when not on a terminal")
        if not typer.confirm(f"Replace the index with {chosen.key}?"):
            raise typer.Exit(1)
    from storage.credentials import reapply_credentials, snapshot_credentials
    from storage.engine import migrate

    engine = gallra.require_index()
    with exclusive(engine):  # no sweep or rotation may run while the index is replaced
        gallra.reread_master_key()  # a rotation may have finished while this waited
        logins = snapshot_credentials(engine)  # as they are now, not as in the backup
        restore_index(engine, gallra.settings.index_url, gallra.blobs, chosen.key)
        migrate(engine)  # a backup taken before an upgrade has the older schema
        reapply_credentials(engine, logins)
        report = replay_after_restore(
            engine,
            gallra.blobs,
            gallra.keystore if gallra.settings.keys.encrypt else None,
            gallra.clock.now(),
            gallra.hash_key,
        )
    data = {"restored": chosen.key, **asdict(report)}
    emit(
        data,
        as_json=as_json,
        lines=[
            f"index restored from {chosen.key}",
            f"re-applied since then: {len(report.items_removed)} item deletions, "
            f"{len(report.subjects_removed)} people deleted",
            "run `gallra doctor --verify` to check the store against it",
        ],
    )
