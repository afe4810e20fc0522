"""`scm_append_events_many`: one append of events to several streams (log lock and insert) in one round trip.

PostgreSQL only, as `scm_append_events` (migration 0003), which it mirrors for callers that append to
several streams in one transaction, each at whatever version it is (no expected version): a ship
notice's five stock streams and its purchase order's. It takes the same transaction-scoped append lock
before reading the streams' versions, so positions are still handed out in commit order; events get
positions in the order given, and each stream's versions continue from its head in that order.
Returns one row per event, in the order given.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION scm_append_events_many(
    p_lock_key bigint,
    p_streams text[],
    p_event_ids uuid[],
    p_types text[],
    p_schema_versions integer[],
    p_payloads jsonb[],
    p_metadata jsonb[],
    p_occurred_at timestamptz[],
    p_recorded_at timestamptz
) RETURNS TABLE (event_position bigint, event_version integer)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock_key);
    RETURN QUERY
    WITH given AS (
        SELECT u.*, row_number() OVER (PARTITION BY u.stream ORDER BY u.ordinality)::integer AS nth
        FROM unnest(p_streams, p_event_ids, p_types, p_schema_versions, p_payloads, p_metadata, p_occurred_at)
             WITH ORDINALITY AS u(stream, event_id, type, schema_version, payload, metadata, occurred_at, ordinality)
    ), head AS (
        SELECT s.stream, coalesce((SELECT max(e.version) FROM events_event e WHERE e.stream = s.stream), 0) AS current
        FROM (SELECT DISTINCT given.stream FROM given) s
    ), inserted AS (
        INSERT INTO events_event (event_id, stream, version, type, schema_version, payload, metadata,
                                  occurred_at, recorded_at)
        SELECT g.event_id, g.stream, h.current + g.nth, g.type, g.schema_version, g.payload, g.metadata,
               g.occurred_at, p_recorded_at
        FROM given g JOIN head h ON h.stream = g.stream
        ORDER BY g.ordinality
        RETURNING events_event.position, events_event.version, events_event.event_id
    )
    SELECT i.position, i.version FROM inserted i JOIN given g ON g.event_id = i.event_id ORDER BY g.ordinality;
END;
$$;
"""

DROP = (
    "DROP FUNCTION IF EXISTS scm_append_events_many(bigint, text[], uuid[], text[], integer[], jsonb[], jsonb[], "
    "timestamptz[], timestamptz)"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("events", "0004_drop_redundant_stream_index")]

    operations = [migrations.RunPython(create, drop)]
