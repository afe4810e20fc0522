"""`scm_append_events`: the whole append (log lock, version check, insert) in one round trip.

PostgreSQL only; SQLite appends from Python (its writers are serialised anyway). The function takes
the transaction-scoped append lock before reading the stream's version, so positions are handed
out in commit order (see scm/events/store.py). A stale expected version inserts nothing and
returns one row with NULL position and the stream's current version, so the caller raises its own
ConcurrencyError without aborting the transaction.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION scm_append_events(
    p_stream text,
    p_expected integer,
    p_lock_key bigint,
    p_event_ids uuid[],
    p_types text[],
    p_schema_versions integer[],
    p_payloads jsonb[],
    p_metadata jsonb[],
    p_occurred_at timestamptz[],
    p_recorded_at timestamptz
) RETURNS TABLE (event_position bigint, event_version integer, current_version integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_current integer;
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock_key);
    SELECT coalesce(max(e.version), 0) INTO v_current FROM events_event e WHERE e.stream = p_stream;
    IF p_expected IS NOT NULL AND v_current <> p_expected THEN
        RETURN QUERY SELECT NULL::bigint, NULL::integer, v_current;
        RETURN;
    END IF;
    RETURN QUERY
    INSERT INTO events_event (event_id, stream, version, type, schema_version, payload, metadata,
                              occurred_at, recorded_at)
    SELECT n.event_id, p_stream, v_current + n.ordinality::integer, n.type, n.schema_version, n.payload,
           n.metadata, n.occurred_at, p_recorded_at
    FROM unnest(p_event_ids, p_types, p_schema_versions, p_payloads, p_metadata, p_occurred_at)
         WITH ORDINALITY AS n(event_id, type, schema_version, payload, metadata, occurred_at, ordinality)
    ORDER BY n.ordinality
    RETURNING events_event.position, events_event.version, v_current;
END;
$$;
"""

DROP = "DROP FUNCTION IF EXISTS scm_append_events(text, integer, bigint, uuid[], text[], integer[], jsonb[], jsonb[], timestamptz[], timestamptz)"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("events", "0002_append_only_triggers")]

    operations = [migrations.RunPython(create, drop)]
