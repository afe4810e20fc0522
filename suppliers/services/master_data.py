"""Suppliers and their items (supplier part number -> our SKU)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from inventory import selectors as inventory_selectors
from scm import outbound
from scm.errors import Conflict, ValidationFailed
from scm.master_data import master_data_upsert
from scm.validation import clean_or_fail
from suppliers.drop_folders import drop_folder_resolve
from suppliers.exceptions import SupplierNotFound
from suppliers.models import Supplier, SupplierItem

SUPPLIER_FIELDS = (
    "name",
    "active",
    "isa_qualifier",
    "isa_id",
    "gs_id",
    "edifact_id",
    "formats",
    "feed_url",
    "drop_folder",
    "poll_interval_seconds",
)


FORMATS = ("x12", "edifact", "json", "csv")


def supplier_stream(code: str) -> str:
    return f"supplier-{code}"


def get_supplier(code: str, *, for_update: bool = False) -> Supplier:
    rows = Supplier.objects.select_for_update() if for_update else Supplier.objects
    try:
        return rows.get(code=code)
    except Supplier.DoesNotExist:
        raise SupplierNotFound(code) from None


@transaction.atomic
def supplier_upsert(*, code: str, **fields) -> Supplier:
    """Create or change a supplier; records SupplierDefined. The X12 sender id must be unique.

    Raises AddressRefused (feed_url not http(s) or an internal address), DropFolderRefused (a drop
    folder outside SUPPLIER_DROP_FOLDER_ROOT), ValidationFailed, Conflict."""
    formats = fields.get("formats")
    if formats is not None and (not isinstance(formats, list) or any(f not in FORMATS for f in formats)):
        raise ValidationFailed(f"formats must be a list of {', '.join(FORMATS)}.", formats=formats)
    for name in ("isa_id", "gs_id", "isa_qualifier", "edifact_id"):
        if isinstance(fields.get(name), str):
            fields[name] = fields[name].strip()
    _check_endpoints(fields)
    try:
        return master_data_upsert(
            Supplier,
            key_field="code",
            key=code,
            fields=fields,
            allowed=SUPPLIER_FIELDS,
            event_type="SupplierDefined",
            stream=supplier_stream(code),
            check=_check_supplier,
            validate_in_database=False,
        )
    except IntegrityError as exc:
        raise Conflict(f"Supplier {code!r} conflicts with an existing one: {exc}", code=code) from None


def _check_endpoints(fields: dict) -> None:
    """The feed URL and drop folder being saved obey the outbound policy and the drop folder root.
    No DNS here (this runs in the transaction): names are judged by the API and admin forms before,
    and by the connect-time check at every poll."""
    if fields.get("feed_url"):
        outbound.check_url(fields["feed_url"], what="feed_url", resolve_names=False)
    if fields.get("drop_folder"):
        drop_folder_resolve(fields["drop_folder"])


def _check_supplier(supplier: Supplier) -> None:
    if supplier.poll_interval_seconds < 10:
        raise ValidationFailed("poll_interval_seconds must be at least 10.", poll_interval_seconds=10)
    if supplier.isa_id:
        taken = Supplier.objects.filter(isa_id=supplier.isa_id).exclude(pk=supplier.pk).values_list("code", flat=True)
        if taken:
            raise Conflict(
                f"X12 id {supplier.isa_id!r} already belongs to supplier {taken[0]!r}.",
                isa_id=supplier.isa_id,
                supplier=taken[0],
            )


@transaction.atomic
def supplier_delete(*, code: str) -> None:
    """Delete a supplier that never traded with us; one with orders or messages is deactivated instead."""
    supplier = get_supplier(code, for_update=True)
    if supplier.purchase_orders.exists() or supplier.messages.exists():
        raise Conflict(
            f"Supplier {code!r} has purchase orders or messages and cannot be deleted; set active=false instead.",
            supplier=code,
        )
    supplier.delete()


@transaction.atomic
def supplier_item_upsert(
    *, supplier: str, supplier_part: str, sku: str, pack_size: int = 1, lead_time_days: int = 7
) -> SupplierItem:
    """Map a supplier's part number to one of our SKUs (the SKU must exist)."""
    owner = get_supplier(supplier)
    supplier_part = (supplier_part or "").strip()
    if not supplier_part:
        raise ValidationFailed("supplier_part must not be blank.", supplier_part=supplier_part)
    inventory_selectors.get_item(sku)
    if isinstance(pack_size, bool) or not isinstance(pack_size, int) or pack_size < 1:
        raise ValidationFailed("pack_size must be a whole number of at least 1.", pack_size=pack_size)
    mapping = SupplierItem.objects.select_for_update().filter(
        supplier=owner, supplier_part=supplier_part
    ).first() or SupplierItem(supplier=owner, supplier_part=supplier_part)
    mapping.sku, mapping.pack_size, mapping.lead_time_days = sku, pack_size, lead_time_days
    clean_or_fail(mapping, exclude=["supplier"], validate_unique=False, validate_constraints=False)
    mapping.save()
    return mapping


@transaction.atomic
def supplier_item_delete(*, item_id: int) -> None:
    SupplierItem.objects.filter(pk=item_id).delete()
