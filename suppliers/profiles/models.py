"""Tables of the ops fix loop: supplier profile versions, and bulk reprocess runs with one row per
attempt. Part of the suppliers app (imported by `suppliers.models`).

Invariants kept by the database:
- a profile version is immutable and never deleted (append-only triggers, migration 0003); one row
  per (supplier, document type, version), versions start at 1;
- a reprocess attempt row is immutable too: the record of what each attempt did stays as it was.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

DOCUMENT_TYPE_CHOICES = [
    ("856", "856 ship notice / DESADV / asn"),
    ("855", "855 PO acknowledgement / ORDRSP / po_ack"),
    ("810", "810 invoice / INVOIC / invoice"),
    ("846", "846 inventory advice / INVRPT / inventory"),
]


class ImmutableRow(models.Model):
    """Rows written once: saving an existing row or deleting one is refused before the database is asked."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError(f"{type(self).__name__} rows are immutable; record a new one instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError(f"{type(self).__name__} rows are never deleted")


class SupplierProfileVersion(ImmutableRow):
    """One version of how we read one supplier's documents of one type (see docs/SUPPLIERS.md)."""

    supplier = models.ForeignKey("suppliers.Supplier", on_delete=models.PROTECT, related_name="profile_versions")
    document_type = models.CharField(max_length=8, choices=DOCUMENT_TYPE_CHOICES)
    version = models.PositiveIntegerField()
    settings = models.JSONField(default=dict, help_text="The validated profile (ProfileSettings.to_json).")
    changed_fields = models.JSONField(default=list, blank=True, help_text="Fields that differ from the version before.")
    note = models.CharField(max_length=500, blank=True, help_text="Why ops changed it.")
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "suppliers"
        ordering = ["supplier_id", "document_type", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["supplier", "document_type", "version"], name="supplier_profile_version_unique"
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="supplier_profile_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.supplier_id} {self.document_type} profile v{self.version}"

    @property
    def stream(self) -> str:
        return profile_stream(self.supplier.code, self.document_type)


def profile_stream(supplier_code: str, document_type: str) -> str:
    return f"supplier-profile-{supplier_code}-{document_type}"


class ReprocessRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    STOPPED = "stopped", "Stopped (interrupted or asked to stop)"


class ReprocessRun(models.Model):
    """Ops reprocessing all of one supplier's quarantined messages with one reason code.

    `message_ids` is the selection taken when the run started (oldest first), so progress is
    `done` of `total`; a message that left quarantine in the meantime is skipped, never applied twice.
    """

    supplier = models.ForeignKey("suppliers.Supplier", on_delete=models.PROTECT, related_name="reprocess_runs")
    reason_code = models.CharField(max_length=64)
    requested_by = models.CharField(max_length=150, blank=True)
    status = models.CharField(max_length=16, choices=ReprocessRunStatus.choices, default=ReprocessRunStatus.RUNNING)
    message_ids = models.JSONField(default=list)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True, help_text="Outcomes so far: APPLIED, QUARANTINED, ...")
    stop_requested = models.BooleanField(default=False)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "suppliers"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(done__lte=models.F("total")), name="reprocess_run_done_le_total")
        ]

    def __str__(self) -> str:
        return f"reprocess run {self.pk} ({self.reason_code}, {self.done}/{self.total})"


class ReprocessOutcome(models.TextChoices):
    APPLIED = "APPLIED", "Applied"
    QUARANTINED = "QUARANTINED", "Still quarantined"
    DUPLICATE = "DUPLICATE", "Duplicate"
    SKIPPED = "SKIPPED", "Skipped (no longer quarantined)"
    FAILED = "FAILED", "Failed (database error; rerun)"


class ReprocessAttempt(ImmutableRow):
    """One reprocess of one message (in a run, or a single reprocess), written with its outcome."""

    run = models.ForeignKey(ReprocessRun, on_delete=models.PROTECT, null=True, blank=True, related_name="attempts")
    message = models.ForeignKey("suppliers.InboundMessage", on_delete=models.PROTECT, related_name="reprocess_attempts")
    outcome = models.CharField(max_length=16, choices=ReprocessOutcome.choices)
    profile_versions = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    actor = models.CharField(max_length=150, blank=True)
    attempted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "suppliers"
        ordering = ["id"]
        indexes = [models.Index(fields=["run", "id"], name="reprocess_attempt_run")]

    def __str__(self) -> str:
        return f"message {self.message_id}: {self.outcome}"
