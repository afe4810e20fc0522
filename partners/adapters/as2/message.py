"""AS2 (RFC 4130) messages and MDNs: build what we send, open what we receive.

Bytes in, facts out: no database, no HTTP. The caller (partners.as2_inbound, partners.transmit)
supplies the keys and certificates of one trading relationship as a `Station` and decides what to
do with the result. Every refusal is an `As2Refused` carrying the MDN disposition modifier it maps to.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate

from asn1crypto import cms

from partners.adapters.as2 import mime, smime

AS2_VERSION = "1.2"
USER_AGENT = "scm-partners-as2/1"
PROCESSED = "automatic-action/MDN-sent-automatically; processed"
DISPOSITION_ERRORS = (
    "authentication-failed",
    "decryption-failed",
    "insufficient-message-security",
    "integrity-check-failed",
    "unexpected-processing-error",
)
_PKCS7_MIME = ("application/pkcs7-mime", "application/x-pkcs7-mime")
_PKCS7_SIGNATURE = ("application/pkcs7-signature", "application/x-pkcs7-signature")


class As2Refused(Exception):
    """A message or MDN we cannot accept; `disposition` is the RFC 4130 §7.4.3 error modifier."""

    def __init__(self, disposition: str, message: str) -> None:
        super().__init__(message)
        self.disposition = disposition
        self.message = message


@dataclass(frozen=True)
class Station:
    """One AS2 relationship as seen from our side."""

    our_id: str
    partner_id: str
    our_certificate: object  # cryptography x509.Certificate
    our_key: object  # cryptography private key
    partner_certificate: object


@dataclass(frozen=True)
class SendOptions:
    sign: bool = True
    encrypt: bool = True
    digest: str = "sha256"
    encryption: str = "aes256-cbc"
    mdn: str = "sync"  # sync | async | none
    mdn_signed: bool = True
    receipt_url: str = ""


@dataclass(frozen=True)
class Outgoing:
    """An AS2 HTTP request (or an MDN) ready to send: its headers and body, and the MIC we expect back."""

    message_id: str
    headers: dict[str, str]
    body: bytes
    mic: str = ""
    micalg: str = ""


def quote_id(as2_id: str) -> str:
    return f'"{as2_id}"' if any(c in as2_id for c in ' "\\') else as2_id


def unquote_id(value: str | None) -> str:
    value = (value or "").strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"')
    return value


def bare_message_id(value: str | None) -> str:
    return (value or "").strip().removeprefix("<").removesuffix(">").strip()


def new_message_id(our_id: str) -> str:
    host = "".join(c for c in our_id if c.isalnum() or c in "-.") or "scm"
    return f"<{uuid.uuid4().hex}@{host}>"


# --- Outbound messages ---------------------------------------------------------------------------


def payload_entity(payload: bytes, *, content_type: str, filename: str) -> bytes:
    """The payload as a MIME entity."""
    # Receivers canonicalise signed text to CRLF (OpenSSL does), so a payload that is not already
    # canonical ASCII travels base64-encoded: the signature then holds, and the bytes stay exact.
    canonical = payload.isascii() and mime.canonical_crlf(payload) == payload and b"\0" not in payload
    entity = mime.entity(
        [
            ("Content-Type", content_type),
            ("Content-Transfer-Encoding", "binary" if canonical else "base64"),
            ("Content-Disposition", f'attachment; filename="{filename}"'),
        ],
        payload if canonical else base64_lines(payload),
    )
    return entity


def build_message(
    payload: bytes,
    *,
    station: Station,
    options: SendOptions,
    message_id: str,
    filename: str,
    content_type: str = "application/edi-x12",
    subject: str = "EDI",
) -> Outgoing:
    """Wrap `payload` as AS2: payload entity → multipart/signed (sign) → EnvelopedData (encrypt)."""
    entity = payload_entity(payload, content_type=content_type, filename=filename)
    micalg = smime.MICALG_NAMES[options.digest]
    if options.sign:
        mic = smime.mic(entity, options.digest)
        outer_type, entity_body = signed_entity(entity, station=station, digest=options.digest)
        entity = mime.entity([("Content-Type", outer_type)], entity_body)
    elif options.encrypt:
        mic = smime.mic(entity, options.digest)
    else:
        mic = smime.mic(payload, options.digest)
    entity_headers: dict[str, str] = {}
    if options.encrypt:
        content_type_header = 'application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"'
        body = smime.encrypt(entity, certificate=station.partner_certificate, algorithm=options.encryption)
    else:
        parsed = mime.parse_entity(entity)
        content_type_header, body = parsed.headers["Content-Type"], parsed.body
        entity_headers = {
            name: parsed.headers[name]
            for name in ("Content-Transfer-Encoding", "Content-Disposition")
            if parsed.headers[name]
        }
    headers = {
        "AS2-Version": AS2_VERSION,
        "AS2-From": quote_id(station.our_id),
        "AS2-To": quote_id(station.partner_id),
        "Message-ID": message_id,
        "Subject": subject,
        "Date": formatdate(usegmt=True),
        "MIME-Version": "1.0",
        "Content-Type": content_type_header,
        "User-Agent": USER_AGENT,
    }
    if options.encrypt:
        headers["Content-Transfer-Encoding"] = "binary"
        headers["Content-Disposition"] = 'attachment; filename="smime.p7m"'
    else:
        headers.update(entity_headers)  # the payload's own transfer encoding travels as HTTP headers
    headers.update(_mdn_request_headers(station, options, micalg))
    return Outgoing(message_id=message_id, headers=headers, body=body, mic=mic, micalg=micalg)


def _mdn_request_headers(station: Station, options: SendOptions, micalg: str) -> dict[str, str]:
    if options.mdn == "none":
        return {}
    headers = {"Disposition-Notification-To": station.our_id}
    if options.mdn_signed:
        headers["Disposition-Notification-Options"] = (
            f"signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, {micalg}"
        )
    if options.mdn == "async":
        headers["Receipt-Delivery-Option"] = options.receipt_url
    return headers


def signed_entity(content: bytes, *, station: Station, digest: str) -> tuple[str, bytes]:
    """multipart/signed over `content` (an entity); returns (its Content-Type, its body)."""
    signature = smime.sign_detached(content, certificate=station.our_certificate, key=station.our_key, digest=digest)
    signature_part = mime.entity(
        [
            ("Content-Type", 'application/pkcs7-signature; name="smime.p7s"'),
            ("Content-Transfer-Encoding", "base64"),
            ("Content-Disposition", 'attachment; filename="smime.p7s"'),
        ],
        base64_lines(signature),
    )
    return mime.multipart(
        "multipart/signed",
        [content, signature_part],
        boundary=mime.new_boundary(),
        protocol="application/pkcs7-signature",
        micalg=smime.MICALG_NAMES[digest],
    )


def base64_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


# --- Inbound messages ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MdnRequest:
    mode: str  # none | sync | async
    url: str = ""
    signed: bool = False
    micalgs: tuple[str, ...] = ()

    def digest(self, fallback: str) -> str:
        """The first requested MIC algorithm we support, else `fallback`."""
        for name in self.micalgs:
            if name.strip().lower() in smime.MICALGS:
                return smime.MICALGS[name.strip().lower()]
        return fallback


def mdn_request(headers: Mapping[str, str]) -> MdnRequest:
    """What MDN the sender asked for (RFC 4130 §7.3)."""
    if not _get(headers, "Disposition-Notification-To"):
        return MdnRequest(mode="none")
    url = _get(headers, "Receipt-Delivery-Option").strip()
    options = _get(headers, "Disposition-Notification-Options")
    signed, micalgs = False, ()
    for clause in options.split(";"):
        name, _, values = clause.partition("=")
        words = [v.strip() for v in values.split(",") if v.strip()]
        if name.strip().lower() == "signed-receipt-protocol":
            signed = any(w.lower() == "pkcs7-signature" for w in words[1:])
        elif name.strip().lower() == "signed-receipt-micalg":
            micalgs = tuple(words[1:])
    return MdnRequest(mode="async" if url else "sync", url=url, signed=signed, micalgs=micalgs)


@dataclass
class Opened:
    """A received message after decryption and verification."""

    payload: bytes
    content_type: str
    filename: str
    mic: str
    micalg: str
    signed: bool = False
    encrypted: bool = False
    compressed: bool = False
    layers: list[str] = field(default_factory=list)


def open_message(
    headers: Mapping[str, str],
    body: bytes,
    *,
    station: Station,
    require_signature: bool = True,
    require_encryption: bool = False,
) -> Opened:
    """Decrypt, verify and unwrap an AS2 request body. Raises As2Refused with the disposition."""
    request = mdn_request(headers)
    try:
        current = mime.headers_entity(
            _get(headers, "Content-Type") or "application/octet-stream",
            body,
            Content_Transfer_Encoding=_get(headers, "Content-Transfer-Encoding"),
            Content_Disposition=_get(headers, "Content-Disposition"),
        )
    except mime.MimeError as exc:
        raise As2Refused("unexpected-processing-error", f"unreadable message: {exc}") from None
    state = Opened(payload=b"", content_type="", filename="", mic="", micalg="")
    try:
        current, mic_source = _unwrap(current, station, request, state)
    except smime.SmimeError as exc:
        raise As2Refused(exc.disposition, str(exc)) from None
    except mime.MimeError as exc:
        raise As2Refused("unexpected-processing-error", f"malformed MIME: {exc}") from None
    if require_encryption and not state.encrypted:
        raise As2Refused("insufficient-message-security", "the message was not encrypted; this partner must encrypt")
    if require_signature and not state.signed:
        raise As2Refused("insufficient-message-security", "the message was not signed; this partner must sign")
    try:
        state.payload = current.decoded_body()
    except mime.MimeError as exc:
        raise As2Refused("unexpected-processing-error", str(exc)) from None
    state.content_type = current.content_type
    state.filename = str(current.headers.get_param("filename", header="Content-Disposition") or "")
    if not state.signed:
        digest = request.digest("sha256")
        state.mic = smime.mic(mic_source if state.encrypted else state.payload, digest)
        state.micalg = smime.MICALG_NAMES[digest]
    return state


def _unwrap(current: mime.Entity, station: Station, request: MdnRequest, state: Opened):
    """Peel encryption, signature and compression layers (any order, at most four)."""
    mic_source = current.raw
    for _ in range(4):
        if current.content_type in _PKCS7_MIME:
            der = _der(current)
            kind = smime.content_type_of(der)
            if kind == "enveloped_data":
                plain = smime.decrypt(der, certificate=station.our_certificate, key=station.our_key)
                current, state.encrypted = mime.parse_entity(plain), True
                mic_source = plain
            elif kind == "compressed_data":
                current, state.compressed = mime.parse_entity(_decompress(der)), True
            else:
                raise smime.SmimeError(f"unsupported application/pkcs7-mime content {kind or '(unreadable)'}")
            state.layers.append(kind)
        elif current.content_type == "multipart/signed":
            current = _verified(current, station, request, state)
            state.layers.append("signed")
        else:
            return current, mic_source
    raise smime.SmimeError("too many nested S/MIME layers")


def _verified(current: mime.Entity, station: Station, request: MdnRequest, state: Opened) -> mime.Entity:
    parts = mime.split_multipart(current.body, current.param("boundary") or "")
    if len(parts) != 2:
        raise mime.MimeError(f"multipart/signed with {len(parts)} parts (expected content and signature)")
    signed_part, signature_entity = parts[0], mime.parse_entity(parts[1])
    if signature_entity.content_type not in _PKCS7_SIGNATURE:
        raise mime.MimeError(f"second part of multipart/signed is {signature_entity.content_type}")
    signature = signature_entity.decoded_body()
    try:
        verified = smime.verify_detached(signed_part, signature, certificate=station.partner_certificate)
    except smime.IntegrityCheckFailed:
        canonical = mime.canonical_crlf(signed_part)
        if canonical == signed_part:
            raise
        verified = smime.verify_detached(canonical, signature, certificate=station.partner_certificate)
        signed_part = canonical
    digest = request.digest(verified.digest)
    state.signed = True
    state.mic, state.micalg = smime.mic(signed_part, digest), smime.MICALG_NAMES[digest]
    return mime.parse_entity(signed_part)


def _der(current: mime.Entity) -> bytes:
    data = current.decoded_body()
    if data[:1] != b"\x30":  # not DER: a sender that base64-encoded without saying so
        try:
            data = base64.b64decode(b"".join(data.split()), validate=True)
        except ValueError:
            raise smime.SmimeError("application/pkcs7-mime body is neither DER nor base64") from None
    return data


def _decompress(der: bytes) -> bytes:
    try:
        return cms.ContentInfo.load(der)["content"].decompressed
    except (ValueError, TypeError, KeyError) as exc:
        raise smime.SmimeError(f"cannot decompress: {exc}") from None


def _get(headers: Mapping[str, str], name: str) -> str:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return ""


def header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive header lookup ("" when absent)."""
    return _get(headers, name)
