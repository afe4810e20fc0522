"""One try at sending one outbox entry: claim it, send it over its connection, record the outcome.

No transaction is open while a partner is called (the claim and the record are short transactions
of their own). Per protocol:
- HTTPS: a 2xx answer is delivery.
- SFTP: written under a temporary name and renamed in their inbox; the rename is delivery.
- AS2: signed and/or encrypted per the connection; delivered only with a good MDN (signature
  verified, `processed`, MIC equal to ours). A synchronous MDN comes in the answer; otherwise the
  entry waits (AWAITING_MDN) for the partner to post it to our MDN endpoint. A negative MDN is a
  refusal: the entry dead-letters at once (resending the same bytes would be refused again).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from partners import services, stations
from partners.adapters import http
from partners.adapters.as2 import mdn as as2_mdn
from partners.adapters.as2 import message as as2
from partners.adapters.as2.smime import SmimeError
from partners.exceptions import TransportError
from partners.models import As2Direction, As2Message, As2Status, MdnMode, OutboxEntry, Protocol
from scm.errors import DomainError

log = logging.getLogger(__name__)


def outbox_entry_transmit(*, entry_id: int) -> str:
    """Try to send one entry now, if it is due. Returns its new status ("" when it was not due)."""
    claim = services.outbox_claim(entry_id=entry_id)
    if claim is None:
        return ""
    entry = OutboxEntry.objects.select_related("connection__supplier", "document").get(pk=claim.entry_id)
    try:
        outcome = SENDERS[entry.protocol](entry)
    except TransportError as exc:
        outcome = services.Outcome("failed", error=exc.message, retryable=exc.retryable)
    except DomainError as exc:  # a missing key or secret: waits visibly, retries, then dead-letters
        outcome = services.Outcome("failed", error=exc.message)
    except SmimeError as exc:
        outcome = services.Outcome("failed", error=f"AS2 configuration: {exc}", retryable=False)
    status = services.outbox_record(claim=claim, outcome=outcome)
    log.info("outbox entry %s try %s: %s %s", entry.pk, claim.attempt, status, outcome.error)
    return status


def _budget() -> dict:
    return {
        "connect_timeout": settings.PARTNER_CONNECT_TIMEOUT_SECONDS,
        "total_timeout": settings.PARTNER_TIMEOUT_SECONDS,
        "max_response_bytes": settings.PARTNER_MAX_RESPONSE_BYTES,
    }


def _send_https(entry: OutboxEntry) -> services.Outcome:
    connection = entry.connection
    headers = {"Content-Type": "application/edi-x12", **stations.https_headers(connection)}
    http.post(
        url=connection.https_url,
        body=bytes(entry.document.body),
        headers=headers,
        partner=f"partner:{connection.supplier.code}",
        **_budget(),
    )
    return services.Outcome("delivered")


def _send_sftp(entry: OutboxEntry) -> services.Outcome:
    from partners.adapters import sftp

    connection = entry.connection
    if not connection.sftp_inbox_path:
        raise TransportError("the connection has no inbox path to send to", retryable=False)
    with sftp.Session(stations.sftp_target(connection)) as session:
        session.write_atomically(connection.sftp_inbox_path, entry.remote_name, bytes(entry.document.body))
    return services.Outcome("delivered")


def _send_as2(entry: OutboxEntry) -> services.Outcome:
    connection = entry.connection
    station = stations.as2_station(connection)
    asynchronous = connection.as2_mdn_mode == MdnMode.ASYNC
    options = as2.SendOptions(
        sign=connection.as2_sign,
        encrypt=connection.as2_encrypt,
        digest=connection.as2_signature_algorithm,
        encryption=connection.as2_encryption_algorithm,
        mdn=connection.as2_mdn_mode,
        mdn_signed=connection.as2_mdn_signed,
        receipt_url=_mdn_url() if asynchronous else "",
    )
    built = as2.build_message(
        bytes(entry.document.body),
        station=station,
        options=options,
        message_id=entry.remote_name,
        filename=f"{entry.kind}_{entry.document.isa_control}.x12",
        subject=f"{entry.kind} {entry.purchase_order or entry.document.isa_control}",
    )
    record = _as2_record(entry, built, options)
    answer = http.post(
        url=connection.as2_url,
        body=built.body,
        headers=built.headers,
        partner=f"partner:{connection.supplier.code}",
        **_budget(),
    )
    if asynchronous:
        return services.Outcome("transmitted", mic=built.mic)
    return _sync_mdn(entry, record, station, answer, built)


def _mdn_url() -> str:
    base = settings.PARTNER_AS2_BASE_URL.rstrip("/")
    if not base:
        raise TransportError("PARTNER_AS2_BASE_URL is not set: an asynchronous MDN needs our public URL")
    return base + reverse("partners:as2-mdn")


def _as2_record(entry: OutboxEntry, built: as2.Outgoing, options: as2.SendOptions) -> As2Message:
    """The outbound AS2 row (one per entry: retries reuse the Message-ID, so the partner dedupes)."""
    record, _ = As2Message.objects.update_or_create(
        connection=entry.connection,
        direction=As2Direction.OUT,
        message_id=as2.bare_message_id(built.message_id),
        defaults={
            "status": As2Status.PENDING,
            "outbox_entry": entry,
            "headers": built.headers,
            "mic": built.mic,
            "micalg": built.micalg,
            "signed": options.sign,
            "encrypted": options.encrypt,
            "mdn_mode": options.mdn,
            "mdn_url": options.receipt_url,
        },
    )
    return record


def _sync_mdn(entry, record, station, answer: http.Answer, built: as2.Outgoing) -> services.Outcome:
    try:
        receipt = as2_mdn.open_mdn(
            answer.headers, answer.body, station=station, require_signature=entry.connection.as2_mdn_signed
        )
    except as2.As2Refused as exc:
        facts = mdn_record(record, headers=answer.headers, body=answer.body, receipt=None, problem=exc.message)
        error = f"MDN not usable: {exc.message}"
        return services.Outcome("failed", error=error, retryable=False, mic=built.mic, mdn=facts)
    problem = mdn_problem(receipt, record)
    facts = mdn_record(record, headers=answer.headers, body=answer.body, receipt=receipt, problem=problem)
    if problem:
        return services.Outcome("failed", error=problem, retryable=False, mic=built.mic, mdn=facts)
    return services.Outcome("delivered", mic=built.mic, mdn=facts)


def mdn_problem(receipt: as2_mdn.Mdn, record: As2Message) -> str:
    """Why an MDN does not confirm delivery ("" when it does)."""
    if receipt.original_message_id != record.message_id:
        return f"the MDN is for message {receipt.original_message_id!r}, not {record.message_id!r}"
    if receipt.error:
        return f"the partner refused the message: {receipt.disposition}"
    if not receipt.confirms(mic=record.mic, micalg=record.micalg):
        return f"the MIC in the MDN ({receipt.mic}, {receipt.micalg}) is not ours ({record.mic}, {record.micalg})"
    return ""


def mdn_record(record: As2Message, *, headers, body: bytes, receipt: as2_mdn.Mdn | None, problem: str) -> dict:
    """Store the MDN with the message it answers; returns the facts for the PartnerMdnReceived event
    (appended by the outbox service, after PartnerDocumentTransmitted)."""
    record.mdn_headers = {k: v for k, v in dict(headers).items() if isinstance(v, str)}
    record.mdn_body = body
    record.mdn_at = timezone.now()
    record.mdn_disposition = (receipt.disposition if receipt else "")[:300]
    record.mdn_signed = bool(receipt and receipt.signed)
    record.status = As2Status.REFUSED if problem else As2Status.ACCEPTED
    record.error = problem
    record.save()
    return {
        "message_id": record.message_id,
        "disposition": record.mdn_disposition,
        "signed": record.mdn_signed,
        "good": not problem,
        "problem": problem or None,
    }


SENDERS = {Protocol.HTTPS: _send_https, Protocol.SFTP: _send_sftp, Protocol.AS2: _send_as2}
