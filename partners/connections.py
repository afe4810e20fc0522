"""Writing partner connections: validation per protocol, and secrets sealed before they are stored.

`partner_connection_save` is the one write path (the admin form calls it). Secrets come in as
plaintext in `secrets` ({"as2_private_key": ..., "sftp_password": ..., "sftp_private_key": ...,
"https_auth": ...}); a key left out keeps what is stored, an empty string clears it. They are sealed
(partners/secrets.py) before the row is written and never returned.
"""

from __future__ import annotations

import asyncssh
from django.db import IntegrityError, transaction

from partners import secrets
from partners.adapters.as2 import smime
from partners.exceptions import ConnectionInvalid
from partners.models import AfterPull, PartnerConnection, Protocol
from suppliers.models import Supplier

SECRET_COLUMNS = {
    "as2_private_key": "as2_private_key_secret",
    "sftp_password": "sftp_password_secret",
    "sftp_private_key": "sftp_private_key_secret",
    "https_auth": "https_auth_secret",
}
EDITABLE = {
    field.name
    for field in PartnerConnection._meta.get_fields()
    if getattr(field, "editable", False) and field.name not in ("id", "supplier", "created_at", "updated_at")
}


@transaction.atomic
def partner_connection_save(
    *, supplier: str, secrets_given: dict[str, str] | None = None, **fields
) -> PartnerConnection:
    """Create or change the connection of supplier `supplier` (its code). Raises ConnectionInvalid naming
    the field, SecretsKeyMissing when a secret is given and no key is configured outside DEBUG."""
    unknown = set(fields) - EDITABLE
    if unknown or set(secrets_given or {}) - set(SECRET_COLUMNS):
        raise ConnectionInvalid(f"Unknown connection fields: {', '.join(sorted(unknown | set(secrets_given or {})))}.")
    owner = Supplier.objects.filter(code=supplier).first()
    if owner is None:
        raise ConnectionInvalid(f"No supplier {supplier!r}.", supplier=supplier)
    connection = PartnerConnection.objects.select_for_update().filter(supplier=owner).first()
    connection = connection or PartnerConnection(supplier=owner)
    for name, value in fields.items():
        setattr(connection, name, value.strip() if isinstance(value, str) and "certificate" not in name else value)
    plaintext = {name: value for name, value in (secrets_given or {}).items() if value is not None}
    for name, value in plaintext.items():
        setattr(connection, SECRET_COLUMNS[name], secrets.seal(value.strip()))
    _validate(connection, plaintext)
    try:
        with transaction.atomic():
            connection.save()
    except IntegrityError as exc:
        raise ConnectionInvalid(f"The connection conflicts with another one: {exc}") from None
    return connection


def _validate(connection: PartnerConnection, plaintext: dict[str, str]) -> None:
    checks = {Protocol.AS2: _validate_as2, Protocol.SFTP: _validate_sftp, Protocol.HTTPS: _validate_https}
    check = checks.get(connection.protocol)
    if check is not None:
        check(connection, plaintext)


def _require(connection: PartnerConnection, *names: str) -> None:
    for name in names:
        if not getattr(connection, name):
            label = PartnerConnection._meta.get_field(name).verbose_name
            raise ConnectionInvalid(f"{connection.get_protocol_display()} needs {label}.", **{name: ""})


def _validate_as2(connection: PartnerConnection, plaintext: dict[str, str]) -> None:
    _require(connection, "as2_our_id", "as2_partner_id", "as2_url", "as2_our_certificate", "as2_partner_certificate")
    if not connection.as2_private_key_secret:
        raise ConnectionInvalid("AS2 needs our private key (PEM).", as2_private_key="")
    try:
        ours = smime.load_certificate(connection.as2_our_certificate)
        smime.load_certificate(connection.as2_partner_certificate)
    except smime.SmimeError as exc:
        raise ConnectionInvalid(f"Certificate: {exc}") from None
    if "as2_private_key" in plaintext:
        try:
            key = smime.load_private_key(plaintext["as2_private_key"])
        except smime.SmimeError as exc:
            raise ConnectionInvalid(f"Our private key: {exc}", as2_private_key="") from None
        if not smime.key_matches_certificate(key, ours):
            raise ConnectionInvalid("Our private key does not belong to our certificate.", as2_private_key="")


def _validate_sftp(connection: PartnerConnection, plaintext: dict[str, str]) -> None:
    _require(connection, "sftp_host", "sftp_username", "sftp_host_key")
    if not (connection.sftp_password_secret or connection.sftp_private_key_secret):
        raise ConnectionInvalid("SFTP needs a password or a private key.", sftp_password="")
    if not (connection.sftp_inbox_path or connection.sftp_outbox_path):
        raise ConnectionInvalid("SFTP needs their inbox path, their outbox path, or both.", sftp_inbox_path="")
    if connection.sftp_after_pull == AfterPull.MOVE and not connection.sftp_archive_path:
        raise ConnectionInvalid("Moving pulled files needs an archive path.", sftp_archive_path="")
    try:
        asyncssh.import_public_key(connection.sftp_host_key)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise ConnectionInvalid(f"Pinned host key: {exc}", sftp_host_key=connection.sftp_host_key[:40]) from None
    if plaintext.get("sftp_private_key"):
        try:
            asyncssh.import_private_key(plaintext["sftp_private_key"])
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise ConnectionInvalid(f"SFTP private key: {exc}", sftp_private_key="") from None


def _validate_https(connection: PartnerConnection, plaintext: dict[str, str]) -> None:
    _require(connection, "https_url")
    if not connection.https_url.lower().startswith("https://") and not connection.https_url.startswith("http://"):
        raise ConnectionInvalid("The HTTPS URL must start with https://.", https_url=connection.https_url)
