"""Checksum claims are scoped to the supplier a message is attributed to (issue 14).

"sha256:<hex>" becomes "sha256:<supplier id>:<hex>" ("-" when the message has no supplier), so a
message one supplier posted with another supplier's bytes no longer makes the rightful sender's
copy a duplicate. Data only; the reverse strips the scope again (keeping the oldest claim when two
suppliers hold the same bytes).
"""

import re

from django.db import migrations

LEGACY = re.compile(r"^sha256:[0-9a-f]{64}$")
SCOPED = re.compile(r"^sha256:[^:]+:([0-9a-f]{64})$")
BATCH = 1000


def scope_claims(apps, schema_editor):
    MessageClaim = apps.get_model("suppliers", "MessageClaim")
    rows = MessageClaim.objects.filter(key__startswith="sha256:").values_list("pk", "key", "message__supplier_id")
    changed = []
    for pk, key, supplier_id in rows.iterator(chunk_size=BATCH):
        if LEGACY.match(key):
            changed.append(MessageClaim(pk=pk, key=f"sha256:{supplier_id or '-'}:{key[len('sha256:'):]}"))
        if len(changed) >= BATCH:
            MessageClaim.objects.bulk_update(changed, ["key"])
            changed = []
    MessageClaim.objects.bulk_update(changed, ["key"])


def unscope_claims(apps, schema_editor):
    MessageClaim = apps.get_model("suppliers", "MessageClaim")
    seen = set()
    for claim in MessageClaim.objects.filter(key__startswith="sha256:").order_by("pk").iterator(chunk_size=BATCH):
        found = SCOPED.match(claim.key)
        if not found:
            continue
        legacy = f"sha256:{found.group(1)}"
        if legacy in seen:
            claim.delete()
            continue
        seen.add(legacy)
        claim.key = legacy
        claim.save(update_fields=["key"])


class Migration(migrations.Migration):
    dependencies = [("suppliers", "0004_message_source_and_poll_channel_for_transport")]

    operations = [migrations.RunPython(scope_claims, unscope_claims)]
