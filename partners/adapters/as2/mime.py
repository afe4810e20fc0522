"""Byte-exact MIME for AS2: entities we build, and entities we take apart without re-encoding.

The standard `email` package re-folds headers and rewrites line endings when it serialises, which
would change the bytes a signature or a MIC covers. So entities are assembled and split here by
hand (CRLF line endings, RFC 2046 boundaries), and only header *values* are parsed with `email`.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import uuid
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

CRLF = b"\r\n"


class MimeError(ValueError):
    """The bytes are not the MIME structure they claim to be."""


@dataclass(frozen=True)
class Entity:
    """One MIME entity: its raw bytes (headers and body, as received) and the parsed headers."""

    raw: bytes
    headers: Message
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get_content_type()

    def param(self, name: str) -> str | None:
        value = self.headers.get_param(name)
        return str(value) if value is not None else None

    def decoded_body(self) -> bytes:
        """The body after its Content-Transfer-Encoding (binary, 8bit, 7bit, base64, quoted-printable)."""
        encoding = (self.headers.get("Content-Transfer-Encoding") or "binary").strip().lower()
        if encoding == "base64":
            try:
                return base64.b64decode(b"".join(self.body.split()), validate=True)
            except binascii.Error as exc:
                raise MimeError(f"invalid base64 body: {exc}") from None
        if encoding == "quoted-printable":
            return quopri.decodestring(self.body)
        return self.body


def entity(headers: list[tuple[str, str]], body: bytes) -> bytes:
    """Headers (in order) and body as one CRLF entity."""
    head = b"".join(f"{name}: {value}".encode() + CRLF for name, value in headers)
    return head + CRLF + body


def parse_entity(raw: bytes) -> Entity:
    """Split headers from body at the first empty line (CRLF, or bare LF from lenient senders)."""
    found = [(index, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (index := raw.find(sep)) >= 0]
    if not found:
        raise MimeError("no blank line between MIME headers and body")
    index, width = min(found)
    head, body = raw[: index + width], raw[index + width :]
    headers = BytesHeaderParser(policy=compat32).parsebytes(head)
    return Entity(raw=raw, headers=headers, body=body)


def headers_entity(content_type: str, body: bytes, **extra: str) -> Entity:
    """An entity whose headers came in HTTP headers (the outermost AS2 part) rather than in the body."""
    lines = [("Content-Type", content_type)] + [(k.replace("_", "-"), v) for k, v in extra.items() if v]
    return parse_entity(entity(lines, body))


def new_boundary() -> str:
    return f"----=_Part_{uuid.uuid4().hex}"


def multipart(content_type: str, parts: list[bytes], *, boundary: str, **params: str) -> tuple[str, bytes]:
    """A multipart body of raw parts; returns (the Content-Type header value, the body)."""
    delimiter = b"--" + boundary.encode()
    body = b"".join(delimiter + CRLF + part + CRLF for part in parts) + delimiter + b"--" + CRLF
    extra = "".join(f'; {name.replace("_", "-")}="{value}"' for name, value in params.items())
    return f'{content_type}{extra}; boundary="{boundary}"', body


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The raw bytes of each part, exactly as sent (RFC 2046 §5.1.1: the CRLF before a delimiter
    belongs to the delimiter, not to the part)."""
    if not boundary:
        raise MimeError("multipart without a boundary")
    delimiter = b"--" + boundary.encode()
    start = body.find(delimiter)
    if start < 0:
        raise MimeError("the multipart boundary does not occur in the body")
    parts = []
    position = start + len(delimiter)
    while True:
        if body[position : position + 2] == b"--":
            return parts
        line_end = body.find(b"\n", position)
        if line_end < 0:
            raise MimeError("the multipart body ends inside a delimiter line")
        content_start = line_end + 1
        following = _next_delimiter(body, delimiter, content_start)
        if following is None:
            raise MimeError("the multipart body has no closing delimiter")
        part_end, position = following
        parts.append(body[content_start:part_end])


def _next_delimiter(body: bytes, delimiter: bytes, start: int) -> tuple[int, int] | None:
    """(end of the part, position after the delimiter) of the next delimiter line after `start`."""
    index = body.find(b"\n" + delimiter, start - 1)
    if index < 0:
        return None
    after = index + 1 + len(delimiter)
    if index > 0 and body[index - 1 : index] == b"\r":
        index -= 1
    return max(index, start), after


def canonical_crlf(data: bytes) -> bytes:
    """Bare LF → CRLF (S/MIME canonical form), for senders that signed canonical text but sent LF."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
