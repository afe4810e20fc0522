"""AS2 receipts (MDN, RFC 4130 §7 and RFC 3798): build the one we owe, open the one we are owed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import formatdate

from partners.adapters.as2 import mime, smime
from partners.adapters.as2.message import (
    AS2_VERSION,
    PROCESSED,
    USER_AGENT,
    As2Refused,
    Outgoing,
    Station,
    bare_message_id,
    header,
    new_message_id,
    quote_id,
    signed_entity,
)


def build_mdn(
    *,
    station: Station,
    original_message_id: str,
    mic: str = "",
    micalg: str = "",
    error: str = "",
    explanation: str = "",
    sign: bool,
    digest: str = "sha256",
) -> Outgoing:
    """A (signed) MDN for a message we received: `processed`, or `processed/error: <error>`."""
    disposition = PROCESSED + (f"/error: {error}" if error else "")
    fields = [
        ("Reporting-UA", USER_AGENT),
        ("Original-Recipient", f"rfc822; {station.our_id}"),
        ("Final-Recipient", f"rfc822; {station.our_id}"),
        ("Original-Message-ID", original_message_id),
    ]
    if mic and not error:
        fields.append(("Received-Content-MIC", f"{mic}, {micalg}"))
    fields.append(("Disposition", disposition))
    notification = b"".join(f"{k}: {v}".encode() + mime.CRLF for k, v in fields)
    text = explanation or (
        f"The AS2 message {original_message_id} was received and processed."
        if not error
        else f"The AS2 message {original_message_id} was not processed: {error}."
    )
    report_type, report_body = mime.multipart(
        "multipart/report",
        [
            mime.entity([("Content-Type", "text/plain; charset=utf-8")], text.encode()),
            mime.entity(
                [("Content-Type", "message/disposition-notification"), ("Content-Transfer-Encoding", "7bit")],
                notification,
            ),
        ],
        boundary=mime.new_boundary(),
        report_type="disposition-notification",
    )
    if sign:
        report = mime.entity([("Content-Type", report_type)], report_body)
        content_type, body = signed_entity(report, station=station, digest=digest)
    else:
        content_type, body = report_type, report_body
    message_id = new_message_id(station.our_id)
    headers = {
        "AS2-Version": AS2_VERSION,
        "AS2-From": quote_id(station.our_id),
        "AS2-To": quote_id(station.partner_id),
        "Message-ID": message_id,
        "Date": formatdate(usegmt=True),
        "MIME-Version": "1.0",
        "Subject": "Message Disposition Notification",
        "Content-Type": content_type,
        "User-Agent": USER_AGENT,
    }
    return Outgoing(message_id=message_id, headers=headers, body=body)


@dataclass(frozen=True)
class Mdn:
    """A receipt from a partner, verified."""

    original_message_id: str
    disposition: str  # the full Disposition field
    error: str  # the error/failure modifier ("" when processed cleanly)
    warning: str
    mic: str
    micalg: str
    signed: bool

    @property
    def processed(self) -> bool:
        return not self.error and self.disposition.split(";")[-1].strip().lower().startswith("processed")

    def confirms(self, *, mic: str, micalg: str) -> bool:
        """A good receipt: processed, and the MIC the partner computed is the one we computed."""
        return self.processed and self.mic == mic and _same_alg(self.micalg, micalg)


def _same_alg(left: str, right: str) -> bool:
    try:
        return smime.digest_name(left) == smime.digest_name(right)
    except smime.SmimeError:
        return False


def open_mdn(headers: Mapping[str, str], body: bytes, *, station: Station, require_signature: bool) -> Mdn:
    """Verify and read an MDN (the body of a sync response, or an async POST). Raises As2Refused."""
    try:
        current = mime.headers_entity(header(headers, "Content-Type") or "text/plain", body)
        signed = current.content_type == "multipart/signed"
        if signed:
            parts = mime.split_multipart(current.body, current.param("boundary") or "")
            if len(parts) != 2:
                raise mime.MimeError("a signed MDN needs two parts")
            signature = mime.parse_entity(parts[1]).decoded_body()
            smime.verify_detached(parts[0], signature, certificate=station.partner_certificate)
            current = mime.parse_entity(parts[0])
        elif require_signature:
            raise As2Refused("insufficient-message-security", "the MDN is not signed, but a signed MDN was requested")
        if current.content_type != "multipart/report":
            raise mime.MimeError(f"an MDN is multipart/report, not {current.content_type}")
        fields = _notification_fields(current)
    except smime.SmimeError as exc:
        raise As2Refused(exc.disposition, f"MDN signature: {exc}") from None
    except mime.MimeError as exc:
        raise As2Refused("unexpected-processing-error", f"unreadable MDN: {exc}") from None
    disposition = " ".join((fields.get("Disposition") or "").split())
    modifier = disposition.partition(";")[2].partition("/")[2]
    kind, _, detail = modifier.partition(":")
    mic_value, _, micalg = (fields.get("Received-Content-MIC") or "").partition(",")
    return Mdn(
        original_message_id=bare_message_id(fields.get("Original-Message-ID")),
        disposition=disposition,
        error=detail.strip() if kind.strip().lower() in ("error", "failure") else "",
        warning=detail.strip() if kind.strip().lower() == "warning" else "",
        mic=mic_value.strip(),
        micalg=micalg.strip(),
        signed=signed,
    )


def _notification_fields(report: mime.Entity):
    for raw in mime.split_multipart(report.body, report.param("boundary") or ""):
        part = mime.parse_entity(raw)
        if part.content_type == "message/disposition-notification":
            return BytesHeaderParser(policy=compat32).parsebytes(part.decoded_body().strip() + b"\r\n\r\n")
    raise mime.MimeError("the report has no message/disposition-notification part")
