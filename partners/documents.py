"""How each kind of outbound document is labelled on the wire: its MIME type (HTTPS POST, the AS2
payload part; RFC 1767's `application/edi-x12` and `application/edifact`) and its file extension
(SFTP file names, the AS2 payload's filename). The kinds are `suppliers.models.OutboundKind`'s."""

from __future__ import annotations

from suppliers.models import OutboundKind

#: Kinds written in EDIFACT; every other kind we build is X12 (850, 997, 824, TA1).
EDIFACT_KINDS = frozenset({OutboundKind.CONTRL})


def content_type(kind: str) -> str:
    return "application/edifact" if kind in EDIFACT_KINDS else "application/edi-x12"


def extension(kind: str) -> str:
    return "edi" if kind in EDIFACT_KINDS else "x12"
