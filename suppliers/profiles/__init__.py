"""Supplier profiles: how we read one supplier's documents of one type, edited by ops, versioned.

A changed format at a supplier is fixed here by ops, not by a developer: accepted date patterns per
element, unit aliases and factors, trusted product qualifiers and part-number rules, match and
over-shipment tolerances, and known malformed segments to ignore with a warning. Each change is a
new immutable `SupplierProfileVersion` and a `SupplierProfileChanged` event
(`suppliers.services.profiles.supplier_profile_update`); a message records the versions it was
processed under (`InboundMessage.profile_versions`).

**The interface (for every mapper, X12 and EDIFACT alike, and for the apply layer).** The pipeline
builds one `MessageProfiles` per message (`suppliers.profiles.selectors.profiles_for_message`) and
hands it to the adapter (`formats.parse(raw, fmt, profiles=...)`) and to the apply layer
(`apply.Context.profiles`), so mapping and applying see the same versions. An adapter:

    profiles.identify_sender(qualifier, sender_id)     # once the interchange sender is known (ISA06, UNB02)
    profile = profiles.document("856")                 # or "DESADV", "asn": one profile per business document

and then, in its mappers:

    profile.parse_date("DTM02", "11/28/26")            # a date in an accepted pattern, else None
                                                       # (the mapper raises its usual precise error)
    rule = profile.ignore_rule(error.segment, error.element)
    if rule: profile.record_ignored(rule, "DTM at byte 120: DTM02 '..' is not a CCYYMMDD date")
                                                       # drop the segment, warn instead of quarantining

EDIFACT mappers name elements the way their errors do (e.g. `DTM01-2`), so ops copy the
element from the quarantine reason into the profile. Qualifiers are X12 codes (`VP` the supplier's
part — EDIFACT `SA` counts as VP —, `BP` our SKU, `UP`, `EN`, ...). The apply layer reads units,
product order, part-number rules and tolerances through the same `DocumentProfile`
(`unit_code`, `unit_factor`, `product_candidates`, `normalise_part`, `qty_tolerance`,
`price_tolerance`, `over_shipment`).

Modules: `dates` (patterns and the century rule), `settings` (validated content of a version),
`reading` (the interface), `fixes` (quarantine reason → the profile field that fixes it),
`selectors` (database reads), `models`.
"""

from suppliers.profiles.reading import (
    DOCUMENT_TYPES,
    NO_PROFILE,
    DocumentProfile,
    MessageProfiles,
    ProfileSource,
    defaults,
    profile_document_type,
)
from suppliers.profiles.settings import IgnoreRule, ProfileInvalid, ProfileSettings

__all__ = [
    "DOCUMENT_TYPES",
    "DocumentProfile",
    "IgnoreRule",
    "NO_PROFILE",
    "MessageProfiles",
    "ProfileInvalid",
    "ProfileSettings",
    "ProfileSource",
    "defaults",
    "profile_document_type",
]
