"""Partner transport: how each supplier's documents travel, and the record of every trip.

- `PartnerConnection`: one per supplier, edited by ops. Secrets (the AS2 private key, the SFTP
  password or private key, the HTTPS auth value) are stored only as Fernet tokens (`*_secret`
  columns, see partners/secrets.py) and never rendered again.
- `OutboxEntry`: one row per outbound document (UNIQUE on the document), the durable outbox. Its
  status moves QUEUED → SENDING → (AWAITING_MDN →) DELIVERED, or to DEAD after the last failure.
- `DeliveryAttempt`: one row per try of an entry, for ops.
- `As2Message`: every AS2 message in either direction with its MIC and MDN; inbound ones keep the
  raw transport bytes as received (so a refused, tampered message stays for inspection).
- `PulledFile`: every file taken from a partner's SFTP outbox, by content checksum, so a file seen
  again after a dropped connection is removed without being stored twice.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Protocol(models.TextChoices):
    NONE = "none", "None (documents are not transmitted)"
    AS2 = "as2", "AS2"
    SFTP = "sftp", "SFTP (their server)"
    HTTPS = "https", "HTTPS POST"


class MdnMode(models.TextChoices):
    SYNC = "sync", "Synchronous (in the HTTP response)"
    ASYNC = "async", "Asynchronous (posted to our MDN URL)"


class SignatureAlgorithm(models.TextChoices):
    SHA256 = "sha256", "SHA-256"
    SHA384 = "sha384", "SHA-384"
    SHA512 = "sha512", "SHA-512"
    SHA1 = "sha1", "SHA-1 (legacy partners only)"


class EncryptionAlgorithm(models.TextChoices):
    AES256 = "aes256-cbc", "AES-256-CBC"
    AES128 = "aes128-cbc", "AES-128-CBC"


class AfterPull(models.TextChoices):
    DELETE = "delete", "Delete the file"
    MOVE = "move", "Move it to the archive path"


SECRET_FIELDS = ("as2_private_key_secret", "sftp_password_secret", "sftp_private_key_secret", "https_auth_secret")


class PartnerConnection(models.Model):
    """How we exchange documents with one supplier."""

    supplier = models.OneToOneField("suppliers.Supplier", on_delete=models.PROTECT, related_name="partner_connection")
    protocol = models.CharField(max_length=8, choices=Protocol.choices, default=Protocol.NONE)
    active = models.BooleanField(default=True)
    send_documents_since = models.DateTimeField(
        default=timezone.now,
        help_text="Outbound documents built from this moment on go out through this connection "
        "(earlier ones are not sent; move it back to send a backlog).",
    )
    # AS2
    as2_our_id = models.CharField("our AS2 id", max_length=128, blank=True)
    as2_partner_id = models.CharField("their AS2 id", max_length=128, blank=True)
    as2_url = models.URLField("their AS2 URL", max_length=500, blank=True)
    as2_our_certificate = models.TextField("our certificate (PEM)", blank=True)
    as2_private_key_secret = models.TextField(blank=True, editable=False)
    as2_partner_certificate = models.TextField("their certificate (PEM)", blank=True)
    as2_sign = models.BooleanField("sign what we send", default=True)
    as2_encrypt = models.BooleanField("encrypt what we send", default=True)
    as2_signature_algorithm = models.CharField(
        max_length=8, choices=SignatureAlgorithm.choices, default=SignatureAlgorithm.SHA256
    )
    as2_encryption_algorithm = models.CharField(
        max_length=12, choices=EncryptionAlgorithm.choices, default=EncryptionAlgorithm.AES256
    )
    as2_mdn_mode = models.CharField("MDN", max_length=8, choices=MdnMode.choices, default=MdnMode.SYNC)
    as2_mdn_signed = models.BooleanField("request a signed MDN", default=True)
    as2_require_encryption = models.BooleanField("refuse unencrypted messages from them", default=True)
    # SFTP (their server)
    sftp_host = models.CharField(max_length=255, blank=True)
    sftp_port = models.PositiveIntegerField(default=22)
    sftp_username = models.CharField(max_length=128, blank=True)
    sftp_password_secret = models.TextField(blank=True, editable=False)
    sftp_private_key_secret = models.TextField(blank=True, editable=False)
    sftp_host_key = models.TextField(
        "pinned host key", blank=True, help_text='Their server\'s public key, e.g. "ssh-ed25519 AAAA...".'
    )
    sftp_inbox_path = models.CharField("their inbox (our files go here)", max_length=500, blank=True)
    sftp_outbox_path = models.CharField("their outbox (we pull from here)", max_length=500, blank=True)
    sftp_after_pull = models.CharField(max_length=8, choices=AfterPull.choices, default=AfterPull.DELETE)
    sftp_archive_path = models.CharField(max_length=500, blank=True)
    # HTTPS POST
    https_url = models.URLField("their HTTPS URL", max_length=500, blank=True)
    https_auth_header = models.CharField(max_length=64, blank=True, default="Authorization")
    https_auth_secret = models.TextField(blank=True, editable=False)
    # Interim per-partner breaker (TODO(outbound): scm/outbound keeps breakers once it lands).
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    breaker_open_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_pulled_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["supplier__code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(protocol__in=[p.value for p in Protocol]), name="partner_connection_protocol_known"
            ),
            models.CheckConstraint(
                condition=Q(sftp_port__gte=1, sftp_port__lte=65535), name="partner_connection_sftp_port_range"
            ),
            models.UniqueConstraint(
                fields=["as2_partner_id"], condition=~Q(as2_partner_id=""), name="partner_connection_as2_id_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.supplier} via {self.get_protocol_display()}"

    def has_secret(self, name: str) -> bool:
        return bool(getattr(self, name))


class OutboxStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    SENDING = "SENDING", "Sending"
    AWAITING_MDN = "AWAITING_MDN", "Transmitted, waiting for the MDN"
    DELIVERED = "DELIVERED", "Delivered"
    DEAD = "DEAD", "Dead letter"


OUT = OutboxStatus
OPEN_OUTBOX = (OUT.QUEUED, OUT.SENDING, OUT.AWAITING_MDN)


class OutboxEntry(models.Model):
    """One outbound document on its way to its supplier. The bytes stay in the document row."""

    connection = models.ForeignKey(PartnerConnection, on_delete=models.PROTECT, related_name="outbox")
    document = models.OneToOneField("suppliers.OutboundMessage", on_delete=models.PROTECT, related_name="transport")
    kind = models.CharField(max_length=8)
    purchase_order = models.CharField(max_length=64, blank=True, help_text="PO number, when the document is one.")
    protocol = models.CharField(max_length=8, choices=Protocol.choices)
    status = models.CharField(max_length=16, choices=OutboxStatus.choices, default=OUT.QUEUED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    remote_name = models.CharField(max_length=255, blank=True, help_text="File name (SFTP) or Message-ID (AS2).")
    mic = models.CharField(max_length=200, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    transmitted_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    dead_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "outbox entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in OutboxStatus]), name="outbox_entry_status_known"
            ),
            models.CheckConstraint(
                condition=Q(status=OUT.DELIVERED, delivered_at__isnull=False) | ~Q(status=OUT.DELIVERED),
                name="outbox_entry_delivered_has_time",
            ),
            models.CheckConstraint(
                condition=Q(status=OUT.DEAD, dead_at__isnull=False) | ~Q(status=OUT.DEAD),
                name="outbox_entry_dead_has_time",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_entry_due")]

    def __str__(self) -> str:
        return f"outbox {self.pk}: {self.kind} to {self.connection_id} ({self.status})"

    @property
    def stream(self) -> str:
        """The PO's stream for a PO's documents (its story: sent, queued, transmitted, MDN, 997, 855)."""
        return f"purchase-order-{self.purchase_order}" if self.purchase_order else f"partner-outbox-{self.pk}"


class AttemptOutcome(models.TextChoices):
    TRANSMITTED = "transmitted", "Transmitted (waiting for the MDN)"
    DELIVERED = "delivered", "Delivered"
    RETRY = "retry", "Failed, will retry"
    DEAD = "dead", "Failed, dead letter"
    SKIPPED = "skipped", "Not tried: breaker open"


class DeliveryAttempt(models.Model):
    entry = models.ForeignKey(OutboxEntry, on_delete=models.CASCADE, related_name="delivery_attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    outcome = models.CharField(max_length=12, choices=AttemptOutcome.choices)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["entry_id", "id"]

    def __str__(self) -> str:
        return f"attempt {self.number} of outbox {self.entry_id}: {self.outcome}"


class As2Direction(models.TextChoices):
    IN = "in", "Received"
    OUT = "out", "Sent"


class As2Status(models.TextChoices):
    PENDING = "pending", "Waiting for the MDN"
    ACCEPTED = "accepted", "Accepted (good MDN)"
    REFUSED = "refused", "Refused"
    RECEIVED = "received", "Received, being opened"


class As2Message(models.Model):
    """One AS2 message and its MDN. Inbound rows keep the transport bytes exactly as received."""

    connection = models.ForeignKey(PartnerConnection, on_delete=models.PROTECT, related_name="as2_messages")
    direction = models.CharField(max_length=3, choices=As2Direction.choices)
    message_id = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=As2Status.choices)
    outbox_entry = models.ForeignKey(
        OutboxEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="as2_messages"
    )
    inbound_message = models.ForeignKey(
        "suppliers.InboundMessage", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    headers = models.JSONField(default=dict, blank=True)
    body = models.BinaryField(blank=True, editable=False)
    mic = models.CharField(max_length=200, blank=True)
    micalg = models.CharField(max_length=16, blank=True)
    signed = models.BooleanField(default=False)
    encrypted = models.BooleanField(default=False)
    error = models.TextField(blank=True, help_text="Why it was refused, or why its MDN was not good.")
    mdn_mode = models.CharField(max_length=8, blank=True, help_text="none, sync or async")
    mdn_url = models.CharField(max_length=500, blank=True)
    mdn_disposition = models.CharField(max_length=300, blank=True)
    mdn_signed = models.BooleanField(default=False)
    mdn_headers = models.JSONField(default=dict, blank=True)
    mdn_body = models.BinaryField(blank=True, editable=False)
    mdn_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "AS2 message"
        constraints = [
            models.UniqueConstraint(fields=["connection", "direction", "message_id"], name="as2_message_id_unique"),
            models.CheckConstraint(condition=~Q(message_id=""), name="as2_message_id_not_blank"),
        ]

    def __str__(self) -> str:
        return f"AS2 {self.direction} {self.message_id} ({self.status})"


class PulledFile(models.Model):
    """A file taken from a partner's SFTP outbox: stored first (as `inbound_message`), removed after."""

    connection = models.ForeignKey(PartnerConnection, on_delete=models.PROTECT, related_name="pulled_files")
    remote_path = models.CharField(max_length=1000)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    inbound_message = models.ForeignKey("suppliers.InboundMessage", on_delete=models.PROTECT, related_name="+")
    stored_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "remote_path", "sha256"], name="pulled_file_once_per_content")
        ]

    def __str__(self) -> str:
        return f"{self.remote_path} -> message {self.inbound_message_id}"
