"""Password hashing, JWT access tokens and API keys.

Passwords: bcrypt over a SHA-256 pre-hash (passlib's `bcrypt_sha256`), so every byte of
a long password counts instead of bcrypt's silent cut at 72 bytes.
JWTs: one pinned algorithm, `exp`/`iat`/`sub` required.
API keys: `pe_` + 40 random base62 characters + a 6-character CRC32 checksum, so a
leaked key is recognisable by scanners and a mistyped one is refused before any
lookup. Only the SHA-256 of a key is stored.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from passlib.context import CryptContext

from settings import Settings

_passwords = CryptContext(schemes=["bcrypt_sha256"], deprecated="auto")
# Checked when the email is unknown, so a login takes as long whether or not it exists.
_DUMMY_HASH = _passwords.hash(secrets.token_urlsafe(16))

API_KEY_PREFIX = "pe_"
_BASE62 = string.digits + string.ascii_letters
_RANDOM_LENGTH = 40
_CHECKSUM_LENGTH = 6
API_KEY_LENGTH = len(API_KEY_PREFIX) + _RANDOM_LENGTH + _CHECKSUM_LENGTH
JWT_LEEWAY_SECONDS = 10


def hash_password(password: str) -> str:
    return str(_passwords.hash(password))


def verify_password(password: str, hashed: str | None) -> bool:
    if hashed is None:
        _passwords.verify(password, _DUMMY_HASH)
        return False
    return bool(_passwords.verify(password, hashed))


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    expires_in: int


def create_access_token(*, subject: uuid.UUID, settings: Settings, now: datetime) -> AccessToken:
    lifetime = timedelta(minutes=settings.JWT_EXPIRE_MINUTES)
    claims = {"sub": str(subject), "iat": now, "nbf": now, "exp": now + lifetime}
    token = jwt.encode(claims, settings.JWT_SECRET_KEY.get_secret_value(), algorithm=settings.JWT_ALGORITHM)
    return AccessToken(token=token, expires_in=int(lifetime.total_seconds()))


def decode_access_token(token: str, *, settings: Settings) -> uuid.UUID:
    """The token's subject; raises `jwt.InvalidTokenError` for anything not trustworthy."""
    claims = jwt.decode(
        token,
        settings.JWT_SECRET_KEY.get_secret_value(),
        algorithms=[settings.JWT_ALGORITHM],
        options={"require": ["exp", "iat", "sub"]},
        leeway=JWT_LEEWAY_SECONDS,
    )
    try:
        return uuid.UUID(claims["sub"])
    except (TypeError, ValueError) as exc:
        raise jwt.InvalidTokenError("malformed subject") from exc


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode())
    digits = []
    for _ in range(_CHECKSUM_LENGTH):
        value, remainder = divmod(value, 62)
        digits.append(_BASE62[remainder])
    return "".join(reversed(digits))


def generate_api_key() -> str:
    body = "".join(secrets.choice(_BASE62) for _ in range(_RANDOM_LENGTH))
    return f"{API_KEY_PREFIX}{body}{_checksum(body)}"


def looks_like_api_key(candidate: str) -> bool:
    """Shape and checksum only: cheap, and no database round trip for garbage."""
    if len(candidate) != API_KEY_LENGTH or not candidate.startswith(API_KEY_PREFIX):
        return False
    body = candidate[len(API_KEY_PREFIX) : -_CHECKSUM_LENGTH]
    if any(char not in _BASE62 for char in body):
        return False
    return secrets.compare_digest(_checksum(body), candidate[-_CHECKSUM_LENGTH:])


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_display_prefix(key: str) -> str:
    """Enough of the key to recognise it in a list, far too little to use it."""
    return key[: len(API_KEY_PREFIX) + 8]
