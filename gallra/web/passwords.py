"""Slow password hashes (scrypt from the standard library) and their checks.

n=2**17, r=8: 128 MiB and about a quarter second per check, so a stolen index
costs a guesser as much. At most two checks run at once (each holds its
memory), in a worker thread, never on the web server's event loop. Hashes
made with a smaller n are still checked, and `needs_rehash` says to upgrade
them at the next login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading

__all__ = ["MIN_LENGTH", "hash_password", "needs_rehash", "verify_password"]

MIN_LENGTH = 10
_N, _R, _P = 2**17, 8, 1
_MAXMEM = 256 * 1024 * 1024
_AT_ONCE = threading.BoundedSemaphore(2)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    with _AT_ONCE:
        return hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=length
        )


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash` for a password of at least MIN_LENGTH characters."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"password: at least {MIN_LENGTH} characters")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _N, _R, _P, 32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def dummy_hash() -> str:
    """A hash no password matches, as costly to check as a real one (for unknown users)."""
    return f"scrypt${_N}${_R}${_P}${_b64(bytes(16))}${_b64(bytes(32))}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored`, compared in constant time."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt" or int(n) > _N or int(r) > _R or int(p) > _P:
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str) -> bool:
    """Whether a hash was made with weaker parameters than today's."""
    parts = stored.split("$")
    return (
        len(parts) != 6
        or parts[0] != "scrypt"
        or (parts[1], parts[2], parts[3])
        != (
            str(_N),
            str(_R),
            str(_P),
        )
    )
