"""Errors of the shipments domain. Each carries the facts a caller (or the orders workflow) needs.

Planning errors tell a workflow what to do next through `retryable`:
- `TmsUnavailable` (retryable): timeouts, connection errors, 5xx/429 after the adapter's own
  retries, or an open circuit. Try again later.
- `TmsRejected` (not retryable): the TMS answered 4xx with its reason, or gave an answer we cannot
  use, or there is no carrier to plan with. Retrying the same request will fail the same way.

Some of them are missing configuration rather than a refusal of this shipment; they name it in
`waits_for` (see `scm.errors.DomainError`), and the order workflow waits for it instead of failing:
`NoDefaultCarrier`, `TmsAddressRefused`, `TmsCredentialsRefused`. The full table is in docs/ORDERS.md.
"""

from __future__ import annotations

from scm.errors import Conflict, DomainError, NotFound, ValidationFailed


class ShipmentNotFound(NotFound):
    code = "shipment_not_found"

    def __init__(self, shipment_id: object) -> None:
        super().__init__(f"No shipment {shipment_id}.", shipment_id=shipment_id)


class CarrierNotFound(NotFound):
    code = "carrier_not_found"

    def __init__(self, code: str) -> None:
        super().__init__(f"No carrier {code!r}.", carrier=code)


class CarrierExists(Conflict):
    code = "carrier_exists"

    def __init__(self, code: str) -> None:
        super().__init__(f"Carrier {code!r} exists already; change it with PUT/PATCH.", carrier=code)


class CarrierInUse(Conflict):
    code = "carrier_in_use"

    def __init__(self, code: str, shipments: int) -> None:
        super().__init__(
            f"Carrier {code!r} has {shipments} shipment(s) and cannot be deleted; deactivate it instead.",
            carrier=code,
            shipments=shipments,
        )


class UnknownServiceLevel(ValidationFailed):
    code = "unknown_service_level"

    def __init__(self, carrier: str, service_level: str, offered: list[str]) -> None:
        super().__init__(
            f"Carrier {carrier!r} does not offer service level {service_level!r} (offers: {', '.join(offered)}).",
            carrier=carrier,
            service_level=service_level,
            offered=offered,
        )


class InvalidShipmentPlan(ValidationFailed):
    code = "invalid_shipment_plan"


class PlanKeyReused(Conflict):
    """The plan key was used before for a different shipment content: a caller bug, not a retry."""

    code = "plan_key_reused"

    def __init__(self, *, reference: str, plan_key: str, shipment_id: int) -> None:
        super().__init__(
            f"Plan key {plan_key!r} of {reference} already planned shipment {shipment_id} with other lines.",
            reference=reference,
            plan_key=plan_key,
            shipment_id=shipment_id,
        )


class InvalidShipmentTransition(Conflict):
    code = "invalid_shipment_transition"

    def __init__(self, *, shipment_id: int, status: str, action: str) -> None:
        super().__init__(
            f"Shipment {shipment_id} is {status}; it cannot {action}.",
            shipment_id=shipment_id,
            status=status,
            action=action,
        )


class DepartureRefused(Conflict):
    """Departure would ship more than a line's reservation holds (or the reservation is gone)."""

    code = "departure_exceeds_reservation"

    def __init__(self, *, shipment_id: int, sku: str, location: str, holder: str, requested: int, held: int) -> None:
        super().__init__(
            f"Shipment {shipment_id} cannot depart: line {sku}@{location} ships {requested} but {holder!r} "
            f"holds {held} reserved.",
            shipment_id=shipment_id,
            sku=sku,
            location=location,
            holder=holder,
            requested=requested,
            held=held,
        )


class TmsError(DomainError):
    """Planning with the TMS failed. `retryable` says whether the same call may succeed later."""

    code = "tms_error"
    status = 502
    retryable = False

    def __init__(self, message: str, *, attempts: int = 0, **fields) -> None:
        super().__init__(message, retryable=self.retryable, attempts=attempts, **fields)
        self.attempts = attempts


class TmsUnavailable(TmsError):
    """Transient: timeout, connection error, 5xx or 429 after retries, or the circuit is open."""

    code = "tms_unavailable"
    status = 503
    retryable = True
    # A TMS outage outlasting the workflow's retries is still not a refusal to ship: the order keeps
    # its stock and waits under this reason (orders.workflow_errors).
    waits_when_exhausted = "TMS unavailable"


class TmsAddressRefused(TmsUnavailable):
    """TMS_BASE_URL is refused by the outbound policy (not http(s), or its host is loopback, private,
    link-local, ...): nothing was sent. A configuration problem, not the TMS's answer: it clears once
    the setting (or OUTBOUND_ALLOWED_NETWORKS) is fixed, so it is retryable like an unreachable TMS."""

    code = "tms_address_refused"
    waits_for = "TMS address not allowed"


class TmsRejected(TmsError):
    """Permanent: the TMS refused the request (4xx) and said why, or answered something unusable."""

    code = "tms_rejected"
    status = 422
    retryable = False


class TmsCredentialsRefused(TmsRejected):
    """The TMS answered 401 or 403: it does not accept our TMS_API_KEY. Not an answer about the
    shipment; it clears once the key is fixed."""

    code = "tms_credentials_refused"
    status = 502
    waits_for = "TMS credentials refused"


class TmsBadResponse(TmsRejected):
    code = "tms_bad_response"
    status = 502


class NoDefaultCarrier(TmsRejected):
    """No TMS to ask and no active default carrier for the built-in planner: a fresh install."""

    code = "no_default_carrier"
    status = 409
    waits_for = "no carrier configured"

    def __init__(self) -> None:
        super().__init__("No TMS is configured and no active carrier is marked as default; mark one as default.")


class CarrierFeedError(DomainError):
    """A carrier's tracking feed could not be read (network, HTTP status, not a JSON list)."""

    code = "carrier_feed_error"
    status = 502

    def __init__(self, message: str, *, carrier: str, retryable: bool) -> None:
        super().__init__(message, carrier=carrier, retryable=retryable)
        self.retryable = retryable
