"""A second factor for the web login: a TOTP code from an app, or a one-time recovery code.

`gallra passwd --totp` enrols: a new secret (shown once as an otpauth URI and,
on a terminal, a QR code) and 10 recovery codes (shown once, kept only as
keyed hashes). The secret is sealed (AES-GCM) under a key derived from the
hash key, so a copy of the index alone does not hold it. A code is accepted
for its 30-second step and the ones either side, once: a used step is never
accepted again, so a code seen over a shoulder cannot be replayed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from models.tables import WebUser

__all__ = ["Enrolment", "check_second_factor", "enrol"]

_LABEL = b"gallra:web-totp"


@dataclass(frozen=True)
class Enrolment:
    """What the person enrolling must keep: shown once, never stored as such."""

    uri: str
    secret: str
    recovery_codes: list[str]


def _key(hash_key: bytes) -> bytes:
    return hmac.new(hash_key, _LABEL, hashlib.sha256).digest()


def _seal(hash_key: bytes, secret: str, username: str) -> str:
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_key(hash_key)).encrypt(nonce, secret.encode(), username.encode())
    return base64.b64encode(nonce + sealed).decode("ascii")


def _unseal(hash_key: bytes, sealed: str, username: str) -> str:
    raw = base64.b64decode(sealed)
    return AESGCM(_key(hash_key)).decrypt(raw[:12], raw[12:], username.encode()).decode()


def _code_hash(hash_key: bytes, code: str) -> str:
    normal = "".join(c for c in code.lower() if c.isalnum())
    return hmac.new(hash_key, b"recovery:" + normal.encode(), hashlib.sha256).hexdigest()


def enrol(user: WebUser, hash_key: bytes) -> Enrolment:
    """Give `user` a new TOTP secret and 10 recovery codes (the old ones stop working)."""
    secret = pyotp.random_base32()
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(10)]
    user.totp_secret = _seal(hash_key, secret, user.username)
    user.totp_last_step = 0
    user.recovery_hashes = json.dumps([_code_hash(hash_key, c) for c in codes])
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name="gallra")
    return Enrolment(uri=uri, secret=secret, recovery_codes=codes)


def check_second_factor(user: WebUser, hash_key: bytes, code: str, now: datetime) -> bool:
    """Whether `code` is a fresh TOTP code or an unused recovery code; marks it used."""
    if not user.totp_secret:
        return True
    code = code.strip().replace(" ", "")
    if not code:
        return False
    if code.isdigit() and len(code) == 6:
        totp = pyotp.TOTP(_unseal(hash_key, user.totp_secret, user.username))
        step = int(now.timestamp()) // totp.interval
        for candidate in (step - 1, step, step + 1):
            fresh = candidate > user.totp_last_step
            if fresh and hmac.compare_digest(totp.at(candidate * totp.interval), code):
                user.totp_last_step = candidate
                return True
        return False
    unused = json.loads(user.recovery_hashes or "[]")
    wanted = _code_hash(hash_key, code)
    if wanted not in unused:
        return False
    unused.remove(wanted)
    user.recovery_hashes = json.dumps(unused)
    return True
