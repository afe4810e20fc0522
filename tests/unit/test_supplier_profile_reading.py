"""Supplier profiles without a database: date patterns and the century rule, validation of what ops
type, and the reading interface mappers and the apply layer use."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from suppliers.adapters.x12 import X12Error, read_interchange
from suppliers.adapters.x12.mappers.common import date_element
from suppliers.profiles import DocumentProfile, MessageProfiles, ProfileInvalid, ProfileSettings, profile_document_type
from suppliers.profiles.dates import BadPattern, compile_pattern, full_year, parse

RECEIVED = date(2026, 11, 30)


def profile(**settings) -> DocumentProfile:
    return DocumentProfile(
        document_type="856", version=3, settings=ProfileSettings.from_json(settings), received_on=RECEIVED
    )


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        ("11/28/26", "MM/DD/YY", date(2026, 11, 28)),
        ("28.11.2026", "DD.MM.CCYY", date(2026, 11, 28)),
        ("261128", "YYMMDD", date(2026, 11, 28)),
        ("2026-11-28", "YYYY-MM-DD", date(2026, 11, 28)),
        ("112826", "mmddyy", date(2026, 11, 28)),
        ("11/28/2026", "MM/DD/YY", None),  # the shape must match digit for digit
        ("02/30/26", "MM/DD/YY", None),  # no such day
        ("13/01/26", "MM/DD/YY", None),
        ("1/28/26", "MM/DD/YY", None),
    ],
)
def test_a_value_matches_a_pattern_only_with_the_same_shape_and_a_real_day(value, pattern, expected):
    assert parse(value, pattern, received_on=RECEIVED) == expected


def test_two_digit_years_fall_within_fifty_years_before_and_forty_nine_after_receipt():
    assert [full_year(yy, RECEIVED) for yy in (0, 26, 75, 76, 99)] == [2000, 2026, 2075, 1976, 1999]
    # The reference is the day of receipt: the same message reads the same when reprocessed later.
    assert full_year(76, date(2027, 1, 1)) == 2076
    assert parse("01/02/76", "MM/DD/YY", received_on=RECEIVED) == date(1976, 1, 2)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("MM/DD", "has no year"),
        ("MM/DD/YY/YY", "names the year twice"),
        ("MM/DD/YYXX", "'X' is not a date token"),
        ("", "non-empty"),
    ],
)
def test_a_pattern_that_is_not_a_date_is_refused_with_the_reason(pattern, problem):
    with pytest.raises(BadPattern, match=problem):
        compile_pattern(pattern)


def test_settings_are_validated_and_stored_in_one_canonical_shape():
    settings = ProfileSettings.from_json(
        {
            "date_formats": {"dtm02": "mm/dd/yy"},
            "unit_aliases": {"cs": "ca"},
            "unit_factors": {"IP": "Pack", "DZ": 12},
            "product_qualifiers": "VP, BP UP",
            "part_number": {"trim": True, "strip_leading_zeros": False},
            "qty_tolerance_pct": "5.0",
            "price_tolerance_pct": 100,
            "over_shipment_pct": None,
            "ignore": [{"segment": "pid", "element": "pid05", "note": "always too long"}],
        }
    )
    assert settings.to_json() == {
        "date_formats": {"DTM02": ["MM/DD/YY"]},
        "unit_aliases": {"CS": "CA"},
        "unit_factors": {"DZ": 12, "IP": "pack"},
        "product_qualifiers": ["VP", "BP", "UP"],
        "part_number": {"trim": True},
        "qty_tolerance_pct": "5",
        "price_tolerance_pct": "100",
        "over_shipment_pct": None,
        "ignore": [{"segment": "PID", "element": "PID05", "note": "always too long"}],
    }
    assert ProfileSettings.from_json(settings.to_json()) == settings
    assert settings.changed_fields(ProfileSettings()) == [
        "date_formats",
        "unit_aliases",
        "unit_factors",
        "product_qualifiers",
        "part_number",
        "qty_tolerance_pct",
        "price_tolerance_pct",
        "ignore",
    ]


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        ({"date_format": {}}, "date_format", "is not a profile field"),
        ({"date_formats": {"DTM02": ["MM/QQ/YY"]}}, "date_formats", "'Q' is not a date token"),
        ({"date_formats": {"11/28/26": ["MM/DD/YY"]}}, "date_formats", "is not an element reference"),
        ({"unit_factors": {"CA": 0}}, "unit_factors", "must be 'pack' or a whole number"),
        ({"product_qualifiers": ["VP", "VP"]}, "product_qualifiers", "listed twice"),
        ({"qty_tolerance_pct": "-1"}, "qty_tolerance_pct", "between 0 and 1000"),
        ({"price_tolerance_pct": "lots"}, "price_tolerance_pct", "is not a number"),
        ({"ignore": [{"segment": "PID", "element": "DTM02"}]}, "ignore", "is not an element of PID"),
        ({"part_number": {"pad": True}}, "part_number", "is not a rule"),
    ],
)
def test_what_the_profile_cannot_mean_is_refused_naming_the_field(data, field, problem):
    with pytest.raises(ProfileInvalid, match=problem) as caught:
        ProfileSettings.from_json(data)
    assert caught.value.fields == {"field": field}


def dtm(value: str):
    raw = (
        "ISA*00*          *00*          *ZZ*S1             *ZZ*SCMCORE        *261130*1200*U*00401*000000001*0*P*>~"
        f"GS*SH*S1*SCMCORE*20261130*1200*1*X*004010~ST*856*0001~DTM*011*{value}~SE*3*0001~GE*1*1~IEA*1*000000001~"
    )
    return next(read_interchange(raw.encode()).transaction_sets()).body[0]


def test_a_date_element_accepts_the_profiles_patterns_after_the_standard_one():
    segment = dtm("11/28/26")
    with pytest.raises(X12Error) as caught:
        date_element(segment, 2)
    assert (caught.value.element, caught.value.value, caught.value.reason) == ("DTM02", "11/28/26", "invalid_date")
    assert date_element(segment, 2, profile(date_formats={"DTM02": ["MM/DD/YY"]})) == date(2026, 11, 28)
    assert date_element(dtm("20261128"), 2, profile(date_formats={"DTM02": ["MM/DD/YY"]})) == date(2026, 11, 28)
    # Patterns belong to one element: BSN03's pattern does not make DTM02 lenient.
    with pytest.raises(X12Error):
        date_element(segment, 2, profile(date_formats={"BSN03": ["MM/DD/YY"]}))


def test_product_candidates_follow_the_trusted_order_and_normalise_part_numbers():
    plain = profile()
    assert plain.product_candidates("SKU-1", "P-1", {"UP": "0123"}) is None  # the default order applies
    ordered = profile(product_qualifiers=["UP", "VP", "BP"], part_number={"trim": True, "strip_leading_zeros": True})
    assert ordered.product_candidates("SKU-1", " 00P-1 ", {"UP": "000123"}) == [
        ("UP", "123"),
        ("VP", "P-1"),
        ("BP", "SKU-1"),
    ]
    assert profile(product_qualifiers=["EN"]).product_candidates("SKU-1", "P-1", {}) == []
    assert profile(part_number={"uppercase": True}).normalise_part("ab-0") == "AB-0"
    assert profile(part_number={"strip_leading_zeros": True}).normalise_part("000") == "0"


def test_units_map_through_aliases_and_factors():
    units = profile(unit_aliases={"CS": "CA", "PCE": "EA"}, unit_factors={"IP": "pack", "BG": 25})
    assert [units.unit_code(code) for code in ("CS", "PCE", "EA")] == ["CA", "EA", "EA"]
    assert [units.unit_factor(code) for code in ("IP", "BG", "CA")] == ["pack", 25, None]
    assert (units.qty_tolerance, units.price_tolerance, units.over_shipment) == (Decimal(0), Decimal(0), None)


class Source:
    def __init__(self):
        self.calls = []

    def supplier_for_sender(self, qualifier, sender_id, syntax="x12"):
        return {"ACME-ISA": 7}.get(sender_id)

    def current(self, supplier_id, document_type):
        self.calls.append((supplier_id, document_type))
        return (4, {"date_formats": {"DTM02": ["MM/DD/YY"]}}) if (supplier_id, document_type) == (7, "856") else None


def test_a_message_reads_each_profile_once_and_records_the_versions_it_used():
    source = Source()
    profiles = MessageProfiles(source=source, received_on=RECEIVED)
    assert profiles.document("856").version is None  # no supplier known yet: the defaults
    profiles.identify_sender("ZZ", "ACME-ISA")
    assert profiles.document("856").version == 4
    assert profiles.document("DESADV") is profiles.document("asn") is profiles.document("856")
    assert profiles.document("810").version is None
    profiles.bind_supplier(7)  # the pipeline confirms the same supplier: nothing is read again
    profiles.document("856")
    assert source.calls == [(7, "856"), (7, "810")]
    assert profiles.versions() == {"856": 4}
    assert [profile_document_type(code) for code in ("ORDRSP", "INVOIC", "inventory", "997")] == [
        "855",
        "810",
        "846",
        None,
    ]
