"""A connection's secrets unsealed into what the adapters take (an AS2 Station, an SFTP Target).

Only this module and `connections` touch secrets; the results live in memory for one operation.
"""

from __future__ import annotations

from django.conf import settings

from partners import secrets
from partners.adapters import sftp
from partners.adapters.as2 import smime
from partners.adapters.as2.message import Station
from partners.models import PartnerConnection


def as2_station(connection: PartnerConnection) -> Station:
    return Station(
        our_id=connection.as2_our_id,
        partner_id=connection.as2_partner_id,
        our_certificate=smime.load_certificate(connection.as2_our_certificate),
        our_key=smime.load_private_key(secrets.unseal(connection.as2_private_key_secret)),
        partner_certificate=smime.load_certificate(connection.as2_partner_certificate),
    )


def sftp_target(connection: PartnerConnection) -> sftp.Target:
    return sftp.Target(
        host=connection.sftp_host,
        port=connection.sftp_port,
        username=connection.sftp_username,
        host_key=connection.sftp_host_key,
        password=secrets.unseal(connection.sftp_password_secret),
        private_key=secrets.unseal(connection.sftp_private_key_secret),
        connect_timeout=settings.PARTNER_CONNECT_TIMEOUT_SECONDS,
        operation_timeout=settings.PARTNER_TIMEOUT_SECONDS,
    )


def https_headers(connection: PartnerConnection) -> dict[str, str]:
    value = secrets.unseal(connection.https_auth_secret)
    return {connection.https_auth_header or "Authorization": value} if value else {}
