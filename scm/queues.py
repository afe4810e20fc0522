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
