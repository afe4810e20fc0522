"""Partner connections: validation per protocol, secrets sealed at rest and write-only in the admin,
refused without a key outside DEBUG, and key rotation."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection as db

from partners import secrets
from partners.connections import partner_connection_save
from partners.exceptions import ConnectionInvalid, SecretsKeyMissing, SecretUnreadable
from partners.models import PartnerConnection
from tests.partner_peers import make_identity
from tests.partner_trade import make_trade
from tests.unit.test_dashboard import login

pytestmark = pytest.mark.django_db
KEY = Fernet.generate_key().decode()
PASSWORD = "hunter2-very-secret"


@pytest.fixture(autouse=True)
def key(settings):
    settings.PARTNER_SECRETS_KEY = [KEY]
    settings.DEBUG = False


def sftp_fields(**extra):
    import asyncssh

    public = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    return {
        "protocol": "sftp",
        "sftp_host": "sftp.partner.example",
        "sftp_username": "us",
        "sftp_host_key": public,
        "sftp_inbox_path": "/in",
        **extra,
    }


def raw_row(pk: int) -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT * FROM partners_partnerconnection WHERE id = %s", [pk])
        return repr(cursor.fetchone())


def test_secrets_are_sealed_in_the_database_and_readable_only_with_the_key(unique):
    trade = make_trade(unique)
    saved = partner_connection_save(
        supplier=trade.supplier.code, secrets_given={"sftp_password": PASSWORD}, **sftp_fields()
    )
    assert PASSWORD not in raw_row(saved.pk)
    assert secrets.unseal(saved.sftp_password_secret) == PASSWORD


def test_a_secret_left_out_is_kept_and_an_empty_one_clears_it(unique):
    trade = make_trade(unique)
    partner_connection_save(supplier=trade.supplier.code, secrets_given={"sftp_password": PASSWORD}, **sftp_fields())
    kept = partner_connection_save(supplier=trade.supplier.code, sftp_port=2222)
    assert secrets.unseal(kept.sftp_password_secret) == PASSWORD
    with pytest.raises(ConnectionInvalid, match="password or a private key"):
        partner_connection_save(supplier=trade.supplier.code, secrets_given={"sftp_password": ""})


def test_without_a_key_outside_debug_no_secret_is_stored(unique, settings):
    settings.PARTNER_SECRETS_KEY = []
    trade = make_trade(unique)
    with pytest.raises(SecretsKeyMissing):
        partner_connection_save(
            supplier=trade.supplier.code, secrets_given={"sftp_password": PASSWORD}, **sftp_fields()
        )
    assert not PartnerConnection.objects.filter(supplier=trade.supplier).exists()


def test_rotation_reseals_with_the_new_key_so_the_old_one_can_go(unique, settings):
    trade = make_trade(unique)
    saved = partner_connection_save(
        supplier=trade.supplier.code, secrets_given={"sftp_password": PASSWORD}, **sftp_fields()
    )
    new = Fernet.generate_key().decode()
    settings.PARTNER_SECRETS_KEY = [new, KEY]
    call_command("rotate_partner_secrets", stdout=StringIO())
    settings.PARTNER_SECRETS_KEY = [new]
    saved.refresh_from_db()
    assert secrets.unseal(saved.sftp_password_secret) == PASSWORD
    settings.PARTNER_SECRETS_KEY = [KEY]
    with pytest.raises(SecretUnreadable):
        secrets.unseal(saved.sftp_password_secret)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sftp_host_key": "not a key"}, "Pinned host key"),
        ({"sftp_host": ""}, "needs sftp host"),
        ({"sftp_after_pull": "move"}, "archive path"),
    ],
)
def test_sftp_connections_are_validated(unique, fields, message):
    trade = make_trade(unique)
    with pytest.raises(ConnectionInvalid, match=message):
        partner_connection_save(
            supplier=trade.supplier.code, secrets_given={"sftp_password": PASSWORD}, **sftp_fields(**fields)
        )


def test_an_as2_key_must_belong_to_our_certificate(unique, tmp_path):
    trade = make_trade(unique)
    ours, other, theirs = (make_identity(n, tmp_path) for n in ("ours", "other", "theirs"))
    fields = {
        "protocol": "as2",
        "as2_our_id": "US",
        "as2_partner_id": f"P-{unique}",
        "as2_url": "https://partner.example/as2",
        "as2_our_certificate": ours.cert_pem,
        "as2_partner_certificate": theirs.cert_pem,
    }
    with pytest.raises(ConnectionInvalid, match="does not belong"):
        partner_connection_save(
            supplier=trade.supplier.code, secrets_given={"as2_private_key": other.key_pem}, **fields
        )
    saved = partner_connection_save(
        supplier=trade.supplier.code, secrets_given={"as2_private_key": ours.key_pem}, **fields
    )
    assert "PRIVATE KEY" not in raw_row(saved.pk)


def test_the_admin_never_shows_a_stored_secret(unique):
    trade = make_trade(unique)
    saved = partner_connection_save(
        supplier=trade.supplier.code, secrets_given={"sftp_password": PASSWORD}, **sftp_fields()
    )
    from django.contrib.auth.models import User

    admin = User.objects.create_superuser(f"admin-{unique}", password="pw")
    client = login(None, unique)
    client.force_login(admin)
    page = client.get(f"/admin/partners/partnerconnection/{saved.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert PASSWORD not in html and saved.sftp_password_secret not in html
    assert "A value is stored (never shown)" in html


def test_the_admin_saves_through_the_service_and_reports_its_refusal(unique):
    from django.contrib.auth.models import User

    trade = make_trade(unique)
    admin = User.objects.create_superuser(f"admin2-{unique}", password="pw")
    client = login(None, unique + "b")
    client.force_login(admin)
    form = {
        "supplier": trade.supplier.pk,
        "protocol": "https",
        "active": "on",
        "send_documents_since_0": "2026-01-01",
        "send_documents_since_1": "00:00:00",
        "https_url": "",
        "https_auth_header": "Authorization",
        "sftp_port": "22",
        "as2_signature_algorithm": "sha256",
        "as2_encryption_algorithm": "aes256-cbc",
        "as2_mdn_mode": "sync",
        "sftp_after_pull": "delete",
        "https_auth": "Bearer abc",
    }
    refused = client.post("/admin/partners/partnerconnection/add/", form)
    assert refused.status_code == 200 and "needs their HTTPS URL" in refused.content.decode()
    assert not PartnerConnection.objects.filter(supplier=trade.supplier).exists()

    form["https_url"] = "https://partner.example/edi"
    done = client.post("/admin/partners/partnerconnection/add/", form)
    assert done.status_code == 302, done.content.decode()[:2000]
    saved = PartnerConnection.objects.get(supplier=trade.supplier)
    assert secrets.unseal(saved.https_auth_secret) == "Bearer abc"
    assert "Bearer abc" not in raw_row(saved.pk)
