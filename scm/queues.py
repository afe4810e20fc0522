"""Celery queues by workload, and which worker process serves which (docs/ARCHITECTURE.md "Queues").

A slow partner must delay only its own work, so tasks that wait on the network never share a
worker pool with the order workflow: each workload has its own queue, and the production shape runs
one worker process per group below (the Procfile). This module is the one place that names them;
settings route tasks by it, /readyz and the metrics measure the depth of each queue, and the flow
benchmark starts workers by the same groups.
"""

from __future__ import annotations

WORKFLOW = "workflow"  # fulfillment steps and their sweeper: reserve, plan shipment (TMS call, budgeted)
EVENTS = "events"  # event subscriptions (projections, handlers, outbox feeders)
WEBHOOKS = "webhooks"  # webhook deliveries, sliced per endpoint
PARTNERS = "partners"  # partner I/O: supplier polling and inbound processing, carrier feeds, EDI transport
MAINTENANCE = "maintenance"  # housekeeping: late-shipment checks, purges, reprocess runs

ALL = (WORKFLOW, EVENTS, WEBHOOKS, PARTNERS, MAINTENANCE)

# Worker process per group in the production shape (each with its own pool); beat runs on its own.
WORKER_GROUPS: dict[str, tuple[str, ...]] = {
    "worker-workflow": (WORKFLOW, EVENTS),
    "worker-webhooks": (WEBHOOKS,),
    "worker-partners": (PARTNERS, MAINTENANCE),
}

# Every task of ours and its queue, by name: no patterns and no silent default, so a new task's queue
# is a decision (tests/unit/test_task_routing.py fails for a registered task missing here).
TASK_QUEUES: dict[str, str] = {
    # The workflow's step and its sweeper. Planning calls the TMS inside the step: that call has a
    # time budget and a breaker (shipments/adapters/tms.py), so it cannot hold a workflow worker for
    # longer than its budget, and splitting it into a partner-queue task would add a hop per order.
    "orders.tasks.run_fulfillment_step": WORKFLOW,
    "orders.tasks.sweep_fulfillment_workflows": WORKFLOW,
    "scm.events.tasks.process_subscriptions": EVENTS,
    "scm.webhooks.tasks.deliver_due_webhooks": WEBHOOKS,
    "scm.webhooks.tasks.deliver_endpoint_webhooks": WEBHOOKS,
    # Partner I/O: supplier polling and the processing of what arrives, carrier feeds, EDI transport.
    "suppliers.tasks.poll_suppliers": PARTNERS,
    "suppliers.tasks.poll_supplier": PARTNERS,
    "suppliers.tasks.poll_supplier_feed": PARTNERS,
    "suppliers.tasks.process_inbound_message": PARTNERS,
    "shipments.tasks.poll_carrier_feeds": PARTNERS,
    "shipments.tasks.poll_carrier_feed": PARTNERS,
    "partners.tasks.send_due_documents": PARTNERS,
    "partners.tasks.transmit_outbox_entry": PARTNERS,
    "partners.tasks.pull_partner_files": PARTNERS,
    "partners.tasks.send_async_mdn": PARTNERS,
    # Housekeeping that may wait behind anything else.
    "suppliers.tasks.reprocess_run": MAINTENANCE,
    "shipments.tasks.detect_late_shipments": MAINTENANCE,
    "shipments.tasks.reprocess_tracking_updates": MAINTENANCE,
    "scm.api.tasks.purge_idempotency_records": MAINTENANCE,
}

# Where a task nobody routed would go (none should: see TASK_QUEUES). Not the workflow's queue: an
# unknown task must not take a pool slot from fulfillment.
DEFAULT = MAINTENANCE


def task_routes() -> dict[str, dict[str, str]]:
    """CELERY_TASK_ROUTES: each task of ours to its queue."""
    return {name: {"queue": queue} for name, queue in TASK_QUEUES.items()}


def task_queues() -> dict[str, dict[str, str]]:
    """CELERY_TASK_QUEUES: every queue declared, so a worker started without -Q serves them all."""
    return {queue: {"exchange": queue, "routing_key": queue} for queue in ALL}
