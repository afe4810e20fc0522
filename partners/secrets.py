"""Secrets at rest: Fernet tokens under keys from the environment, never in the database.

`PARTNER_SECRETS_KEY` holds one or more Fernet keys, comma-separated, newest first. The first one
encrypts; every one decrypts (MultiFernet), so rotating is: put a new key in front, restart, run
`manage.py rotate_partner_secrets` (re-encrypts every stored secret with the new key), then drop the
old key. A database dump without the environment reveals no password or private key.

Without the variable, DEBUG derives a development key from SECRET_KEY (so `bin/run` works); outside
DEBUG, saving or reading a secret raises SecretsKeyMissing (the admin shows it; a send fails with
it as its reason) — the system starts, but never stores a secret it could not protect.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from partners.exceptions import SecretsKeyMissing, SecretUnreadable


def _keys() -> list[bytes]:
    configured = [key.strip() for key in getattr(settings, "PARTNER_SECRETS_KEY", []) if key.strip()]
    if configured:
        return [key.encode() for key in configured]
    if settings.DEBUG:
        digest = hashlib.sha256(b"partners-dev-key:" + settings.SECRET_KEY.encode()).digest()
        return [base64.urlsafe_b64encode(digest)]
    raise SecretsKeyMissing(
        "PARTNER_SECRETS_KEY is not set: partner secrets cannot be stored or read. Generate a key with "
        "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`."
    )


def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in _keys()])
    except ValueError as exc:
        raise SecretsKeyMissing(f"PARTNER_SECRETS_KEY holds an invalid Fernet key: {exc}") from None


def seal(plaintext: str) -> str:
    """The token to store for `plaintext` ("" stays "")."""
    if not plaintext:
        return ""
    return _fernet().encrypt(plaintext.encode()).decode("ascii")


def unseal(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "a stored partner secret does not decrypt with any key in PARTNER_SECRETS_KEY "
            "(was the old key removed before rotate_partner_secrets ran?)"
        ) from None


def reseal(token: str) -> str:
    """The same secret under the first (newest) key."""
    if not token:
        return ""
    try:
        return _fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise SecretUnreadable("a stored partner secret does not decrypt with any configured key") from None
