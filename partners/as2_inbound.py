"""Receiving AS2: messages from known partners into the raw vault, and the MDNs we owe and are owed.

Who may call: only a partner with an active AS2 connection, named by its AS2-From header and
addressing our AS2 id for it in AS2-To, and whose message is signed by the certificate we hold for
it (and encrypted, unless the connection allows otherwise). Anyone else gets 403 and nothing is
stored: an unknown caller cannot make us write.

A message from a known partner is kept first (its transport bytes and headers, in `As2Message`),
then opened. If it verifies, the decrypted payload is stored byte-exact in the raw vault
(`suppliers.inbound.inbound_message_store`) and handed to the pipeline; if not, it stays refused
with the reason, never applied. Either way the partner gets the MDN it asked for (synchronously in
the answer, or posted to its URL) with the disposition: `processed`, or
`processed/error: decryption-failed | integrity-check-failed | authentication-failed |
insufficient-message-security | unexpected-processing-error`.

A resent message (same Message-ID, after a lost MDN) is answered with the MDN already made; it is
not stored or applied again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial

from django.db import transaction
from django.utils import timezone

from partners import circuit, services, stations, transmit
from partners.adapters import http
from partners.adapters.as2 import mdn as as2_mdn
from partners.adapters.as2 import message as as2
from partners.exceptions import TransportError
from partners.models import As2Direction, As2Message, As2Status, PartnerConnection, Protocol
from scm import dispatch
from scm.errors import DomainError, NotFound, ValidationFailed
from scm.events.store import NewEvent, append
from suppliers.inbound import enqueue_processing, inbound_message_store
from suppliers.models import MessageSource

log = logging.getLogger(__name__)


class UnknownPartner(DomainError):
    code = "as2_unknown_partner"
    status = 403


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _partner(headers) -> PartnerConnection:
    sender = as2.unquote_id(as2.header(headers, "AS2-From"))
    receiver = as2.unquote_id(as2.header(headers, "AS2-To"))
    connection = (
        PartnerConnection.objects.select_related("supplier")
        .filter(protocol=Protocol.AS2, active=True, as2_partner_id=sender)
        .first()
        if sender
        else None
    )
    if connection is None or connection.as2_our_id != receiver:
        raise UnknownPartner(
            f"AS2-From {sender!r} to {receiver!r} is not an active AS2 partner of ours.",
            as2_from=sender,
            as2_to=receiver,
        )
    return connection


# --- Messages ------------------------------------------------------------------------------------


def as2_receive(*, headers: dict[str, str], body: bytes) -> Reply:
    """Take one AS2 message; returns the HTTP answer (the MDN when the partner asked for it synchronously)."""
    connection = _partner(headers)
    message_id = as2.bare_message_id(as2.header(headers, "Message-ID"))
    if not message_id:
        raise ValidationFailed("An AS2 message needs a Message-ID header.", header="Message-ID")
    record = As2Message.objects.filter(connection=connection, direction=As2Direction.IN, message_id=message_id).first()
    if record is not None and record.status != As2Status.RECEIVED:
        return _answer(record)  # a resend after a lost MDN: same answer, nothing stored again
    record = record or _keep(connection, message_id, headers, body)
    station = stations.as2_station(connection)
    try:
        opened = as2.open_message(
            headers,
            body,
            station=station,
            require_signature=True,
            require_encryption=connection.as2_require_encryption,
        )
    except as2.As2Refused as refused:
        _refuse(record, refused)
        _make_mdn(record, station, error=refused.disposition, explanation=refused.message)
    else:
        stored = inbound_message_store(
            body=opened.payload,
            source=MessageSource.AS2,
            supplier=connection.supplier,
            content_type=opened.content_type,
            filename=opened.filename or message_id,
        )
        _accept(record, opened, stored.pk)
        _make_mdn(record, station)
        enqueue_processing(stored.pk)
    return _answer(record)


def _keep(connection: PartnerConnection, message_id: str, headers, body: bytes) -> As2Message:
    """Store the transport bytes as received, committed before anything opens them."""
    request = as2.mdn_request(headers)
    with transaction.atomic(durable=True):
        return As2Message.objects.create(
            connection=connection,
            direction=As2Direction.IN,
            message_id=message_id[:255],
            status=As2Status.RECEIVED,
            headers={k: v for k, v in headers.items() if k.lower() not in ("authorization", "cookie")},
            body=body,
            mdn_mode=request.mode,
            mdn_url=request.url[:500],
        )


@transaction.atomic
def _refuse(record: As2Message, refused: as2.As2Refused) -> None:
    record.status, record.error = As2Status.REFUSED, f"{refused.disposition}: {refused.message}"[:4000]
    record.save(update_fields=["status", "error"])
    payload = {
        "supplier": record.connection.supplier.code,
        "protocol": Protocol.AS2,
        "as2_message_id": record.message_id,
        "as2_record_id": record.pk,
        "disposition": refused.disposition,
        "reason": refused.message[:1000],
    }
    append(f"partner-{record.connection.supplier.code}", [NewEvent(type="PartnerMessageRefused", payload=payload)])


@transaction.atomic
def _accept(record: As2Message, opened: as2.Opened, inbound_message_id: int) -> None:
    record.status, record.inbound_message_id = As2Status.ACCEPTED, inbound_message_id
    record.mic, record.micalg, record.signed, record.encrypted = (
        opened.mic,
        opened.micalg,
        opened.signed,
        opened.encrypted,
    )
    record.save(update_fields=["status", "inbound_message", "mic", "micalg", "signed", "encrypted"])
    payload = {
        "supplier": record.connection.supplier.code,
        "protocol": Protocol.AS2,
        "as2_message_id": record.message_id,
        "remote_path": None,
        "inbound_message_id": inbound_message_id,
        "sha256": record.inbound_message.sha256,
        "mic": f"{opened.mic}, {opened.micalg}",
    }
    append(f"partner-{record.connection.supplier.code}", [NewEvent(type="PartnerMessageReceived", payload=payload)])


def _make_mdn(record: As2Message, station: as2.Station, *, error: str = "", explanation: str = "") -> None:
    request = as2.mdn_request(record.headers)
    if request.mode == "none":
        return
    receipt = as2_mdn.build_mdn(
        station=station,
        original_message_id=f"<{record.message_id}>",
        mic=record.mic,
        micalg=record.micalg,
        error=error,
        explanation=explanation,
        sign=request.signed,
        digest=request.digest("sha256"),
    )
    record.mdn_headers, record.mdn_body, record.mdn_at = receipt.headers, receipt.body, timezone.now()
    record.mdn_disposition = as2.PROCESSED + (f"/error: {error}" if error else "")
    record.mdn_signed = request.signed
    record.save(update_fields=["mdn_headers", "mdn_body", "mdn_at", "mdn_disposition", "mdn_signed"])
    if request.mode == "async":
        transaction.on_commit(partial(_queue_async_mdn, record.pk))


def _queue_async_mdn(record_id: int) -> None:
    from partners.tasks import send_async_mdn

    dispatch.enqueue(send_async_mdn, record_id, picked_up_by="the partner resending the message (answered again)")


def _answer(record: As2Message) -> Reply:
    if record.mdn_mode == "sync" and record.mdn_body:
        return Reply(200, dict(record.mdn_headers), bytes(record.mdn_body))
    return Reply(200, {"Content-Type": "text/plain"}, b"")


def async_mdn_send(*, record_id: int) -> str:
    """POST the MDN we owe to the partner's receipt URL: "sent", "retry" or "failed"."""
    record = As2Message.objects.select_related("connection__supplier").get(pk=record_id)
    if not record.mdn_url or not record.mdn_body:
        return "failed"
    try:
        http.post(
            url=record.mdn_url,
            body=bytes(record.mdn_body),
            headers=dict(record.mdn_headers),
            call=circuit.http_call(record.connection.supplier.code),
            body_needed=False,
        )
    except TransportError as exc:  # an open circuit (BreakerOpen) is retryable: retried after a backoff
        log.warning("async MDN for AS2 message %s not delivered: %s", record.message_id, exc.message)
        return "retry" if exc.retryable else "failed"
    return "sent"


# --- MDNs for what we sent -----------------------------------------------------------------------


def as2_mdn_receive(*, headers: dict[str, str], body: bytes) -> dict:
    """An asynchronous MDN for a message we sent: verified, stored with it, and the outbox entry settled."""
    connection = _partner(headers)
    station = stations.as2_station(connection)
    try:
        receipt = as2_mdn.open_mdn(headers, body, station=station, require_signature=connection.as2_mdn_signed)
    except as2.As2Refused as refused:
        raise ValidationFailed(f"MDN refused: {refused.message}", disposition=refused.disposition) from None
    record = (
        As2Message.objects.select_related("outbox_entry")
        .filter(connection=connection, direction=As2Direction.OUT, message_id=receipt.original_message_id)
        .first()
    )
    if record is None:
        raise NotFound(
            f"No AS2 message {receipt.original_message_id!r} was sent to this partner.",
            original_message_id=receipt.original_message_id,
        )
    problem = transmit.mdn_problem(receipt, record)
    facts = transmit.mdn_record(record, headers=headers, body=body, receipt=receipt, problem=problem)
    status = services.outbox_mdn_settle(entry_id=record.outbox_entry_id, mdn=facts) if record.outbox_entry_id else ""
    return {"original_message_id": record.message_id, "good": not problem, "problem": problem or None, "outbox": status}
