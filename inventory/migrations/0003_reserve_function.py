"""`scm_reserve`: a reservation in one round trip on PostgreSQL.

Resolves the SKU and location, claims the units with the conditional UPDATE (the balance row lock), adds to the holder's
reservation record, appends StockReserved through `scm_append_events` and writes the ledger row,
in that order (row locks first, the log's append lock last). The row lock on a hot SKU is then
held only for this one statement and the commit, not for several client round trips.
`inventory.services.stock_reserve` validates and builds the event payload before calling it; SQLite
runs the same steps from Python.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION scm_reserve(
    p_sku text,
    p_location_code text,
    p_qty bigint,
    p_holder text,
    p_reference text,
    p_stream text,
    p_lock_key bigint,
    p_event_id uuid,
    p_schema_version integer,
    p_payload jsonb,
    p_metadata jsonb,
    p_now timestamptz
) RETURNS TABLE (out_problem text, out_item_id bigint, out_location_id bigint, out_available bigint,
                 out_reservation_id bigint, out_quantity bigint, out_reserved_total bigint,
                 out_consumed_total bigint, out_released_total bigint, out_created_at timestamptz,
                 out_event_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
    p_item bigint;
    p_location bigint;
    v_reservation record;
    v_position bigint;
BEGIN
    SELECT i.id INTO p_item FROM inventory_item i WHERE i.sku = p_sku;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_sku'::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
                            NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    SELECT l.id INTO p_location FROM inventory_location l WHERE l.code = p_location_code;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_location'::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
                            NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    UPDATE inventory_balance b SET reserved = b.reserved + p_qty, updated_at = p_now
     WHERE b.item_id = p_item AND b.location_id = p_location AND b.on_hand >= b.reserved + p_qty;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'insufficient_stock'::text, p_item, p_location,
                            coalesce((SELECT b.on_hand - b.reserved FROM inventory_balance b
                                       WHERE b.item_id = p_item AND b.location_id = p_location), 0)::bigint,
                            NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
                            NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    INSERT INTO inventory_reservation AS r (item_id, location_id, holder, quantity, reserved_total, consumed_total,
                                            released_total, created_at, updated_at)
    VALUES (p_item, p_location, p_holder, p_qty, p_qty, 0, 0, p_now, p_now)
    ON CONFLICT (holder, item_id, location_id) DO UPDATE SET
        quantity = r.quantity + EXCLUDED.quantity,
        reserved_total = r.reserved_total + EXCLUDED.reserved_total,
        updated_at = EXCLUDED.updated_at
    RETURNING r.id, r.quantity, r.reserved_total, r.consumed_total, r.released_total, r.created_at
    INTO v_reservation;
    SELECT a.event_position INTO v_position
    FROM scm_append_events(p_stream, NULL, p_lock_key, ARRAY[p_event_id], ARRAY['StockReserved'],
                           ARRAY[p_schema_version],
                           ARRAY[jsonb_set(p_payload, '{reservation_id}', to_jsonb(v_reservation.id))],
                           ARRAY[p_metadata], ARRAY[p_now], p_now) AS a;
    INSERT INTO inventory_ledgerentry (item_id, location_id, bucket, quantity, reason, reference, event_id,
                                       effective_at, recorded_at)
    VALUES (p_item, p_location, 'reserved', p_qty, 'reservation', p_reference, v_position, p_now, p_now);
    RETURN QUERY SELECT NULL::text, p_item, p_location, NULL::bigint, v_reservation.id, v_reservation.quantity, v_reservation.reserved_total,
                        v_reservation.consumed_total, v_reservation.released_total, v_reservation.created_at,
                        v_position;
END;
$$;
"""

DROP = (
    "DROP FUNCTION IF EXISTS scm_reserve(text, text, bigint, text, text, text, bigint, uuid, integer, jsonb, "
    "jsonb, timestamptz)"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0002_ledger_append_only_triggers"),
        ("events", "0003_append_function"),
    ]

    operations = [migrations.RunPython(create, drop)]
