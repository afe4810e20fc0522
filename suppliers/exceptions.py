"""Suppliers' domain errors, and `Problem`: one precise reason a message cannot be applied.

API-facing errors subclass `scm.errors.DomainError` (code + status + facts). Processing a message
collects `Problem`s instead of stopping at the first one, so ops see every unknown part number of
an 856 at once; `MessageRejected` carries them out of the transaction that is rolled back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scm.errors import Conflict, DomainError, NotFound, ValidationFailed


class UnknownSupplier(DomainError):
    code = "unknown_supplier"
    status = 422

    def __init__(self, code: str) -> None:
        super().__init__(f"Unknown supplier {code!r}.", supplier=code)


class SupplierNotFound(NotFound):
    code = "supplier_not_found"

    def __init__(self, code: str) -> None:
        super().__init__(f"No supplier {code!r}.", supplier=code)


class PurchaseOrderNotFound(NotFound):
    code = "purchase_order_not_found"

    def __init__(self, ref: object) -> None:
        super().__init__(f"No purchase order {ref}.", purchase_order=str(ref))


class DuplicatePurchaseOrder(Conflict):
    code = "duplicate_purchase_order"

    def __init__(self, number: str) -> None:
        super().__init__(f"Purchase order {number!r} already exists.", number=number)


class PurchaseOrderStateError(Conflict):
    """The order is not in a state that allows the operation (e.g. sending an order already sent)."""

    code = "purchase_order_state"

    def __init__(self, *, number: str, status: str, action: str) -> None:
        super().__init__(
            f"Purchase order {number} is {status}; it cannot be {action}.", number=number, status=status, action=action
        )


class ReceiptRefused(ValidationFailed):
    code = "receipt_refused"


class ControlNumbersExhausted(Conflict):
    code = "control_numbers_exhausted"


class MessageTooLarge(DomainError):
    code = "payload_too_large"
    status = 413

    def __init__(self, *, size: int, limit: int) -> None:
        super().__init__(
            f"The message has {size} bytes; the limit is {limit} bytes.", content_length=size, max_bytes=limit
        )


class MessageNotFound(NotFound):
    code = "inbound_message_not_found"

    def __init__(self, message_id: object) -> None:
        super().__init__(f"No inbound message {message_id}.", id=str(message_id))


class MessageNotReprocessable(Conflict):
    code = "not_reprocessable"

    def __init__(self, *, message_id: int, status: str) -> None:
        super().__init__(
            f"Inbound message {message_id} is {status}; only QUARANTINED messages can be reprocessed.",
            id=message_id,
            status=status,
        )


# --- Processing problems ------------------------------------------------------------------------

SYNTAX = "syntax"
BUSINESS = "business"
INTERNAL = "internal"
TEXT_LIMIT = 2000


def _escape(char: str) -> str:
    if char.isprintable():
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: Any) -> Any:
    """Text with every non-printable character written as an escape, cut to a sane length."""
    if not isinstance(value, str):
        return value
    text = "".join(_escape(char) for char in value)
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + "…"


@dataclass(frozen=True)
class Problem:
    """Why (part of) a message cannot be applied, precise enough to fix it from this alone.

    `kind` is `syntax` (the message itself is malformed: a 997 rejects it) or `business` (it reads
    fine but does not fit our data: an 824 tells the supplier). `path` locates the problem: a JSON
    Schema path such as `lines/2/qty`, or an X12 place such as `GS 2/ST 0060/HL 4`.
    """

    code: str
    message: str
    kind: str = BUSINESS
    segment: str | None = None
    element: str | None = None
    value: str | None = None
    path: str | None = None
    group_control: str | None = None
    set_control: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe: control characters (a NUL cannot even be stored in PostgreSQL JSON) become \\xNN."""
        data = {key: printable(value) for key, value in asdict(self).items()}
        return {key: data[key] for key in ("code", "message", "kind", "segment", "element", "value", "path")} | {
            key: data[key] for key in ("group_control", "set_control") if data[key] is not None
        }


class MessageRejected(Exception):
    """Raised inside processing to roll the application back; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("MessageRejected needs at least one problem")
        self.problems = problems
        super().__init__("; ".join(problem.message for problem in problems))


class DropFolderRefused(ValidationFailed):
    """A supplier's drop folder must lie inside SUPPLIER_DROP_FOLDER_ROOT (not through `..`, not
    through a symbolic link); refused at save (400) and at poll (a FAILED poll, nothing read)."""

    code = "drop_folder_refused"
