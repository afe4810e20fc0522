"""Supplier profiles and bulk reprocess over the API: the seed scenario end to end (a supplier's new
date format quarantined, fixed by ops in its profile, reprocessed in bulk, the next message applied
directly, other suppliers unchanged), and who may read and write."""

from __future__ import annotations

import pytest

from scm.events.store import read_stream
from scm.roles import INTEGRATION, OPS, PLANNER
from suppliers import services
from tests.api.helpers import assert_error, client_for
from tests.integration.test_suppliers_setup import asn_body, interchange, item, make_order, make_supplier

pytestmark = pytest.mark.django_db

MESSAGES = "/api/v1/inbound-messages/"
RUNS = "/api/v1/reprocess-runs/"


def profile_url(supplier: str, document_type: str = "856") -> str:
    return f"/api/v1/supplier-profiles/{supplier}/{document_type}/"


def make_trade(unique: str) -> dict:
    supplier = make_supplier(unique)
    sku = item(f"A-{unique}").sku
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"P-{unique}", sku=sku)
    order = make_order(unique, supplier, [(sku, 100, "2.50")])
    return {
        "supplier": supplier,
        "code": supplier.code,
        "part": f"P-{unique}",
        "order": order,
        "unique": unique,
        "client": client_for(f"int-{unique}", INTEGRATION, supplier.code),
    }


def ship_notice(trade, n: int, shipped: str) -> bytes:
    body = asn_body(f"S{n}-{trade['unique']}", trade["order"].number, [("1", trade["part"], 3)], shipped=shipped)
    return interchange(trade["supplier"].isa_id, n, [("856", body)])


def post(client, body: bytes) -> dict:
    response = client.post(MESSAGES, data=body, content_type="application/edi-x12")
    assert response.status_code == 202, response.content
    return response.json()


def test_seed_scenario_a_changed_date_format_is_fixed_by_ops_through_the_api(unique):
    trade = make_trade(unique)
    other = make_trade(f"o{unique}")
    ops = client_for(f"ops-{unique}", OPS)

    first = post(trade["client"], ship_notice(trade, 1, "11/28/26"))
    assert first["status"] == "QUARANTINED"
    [error] = first["errors"]
    assert (error["code"], error["segment"], error["element"], error["value"]) == (
        "x12_invalid_date",
        "DTM",
        "DTM02",
        "11/28/26",
    )
    assert "DTM02 '11/28/26' is not a CCYYMMDD date" in error["message"]

    assert_error(ops.get(profile_url(trade["code"])), 404, "profile_not_found")
    saved = ops.patch(
        profile_url(trade["code"]),
        {"settings": {"date_formats": {"DTM02": ["MM/DD/YY"]}}, "note": "switched ERP", "expected_version": 0},
        format="json",
    )
    assert saved.status_code == 201, saved.content
    assert {k: saved.json()[k] for k in ("supplier", "document_type", "version", "changed_fields", "note")} == {
        "supplier": trade["code"],
        "document_type": "856",
        "version": 1,
        "changed_fields": ["date_formats"],
        "note": "switched ERP",
    }
    assert saved.json()["settings"]["date_formats"] == {"DTM02": ["MM/DD/YY"]}
    assert saved.json()["created_by"] == f"user:ops-{unique}"

    run = ops.post(RUNS, {"supplier": trade["code"], "reason_code": "x12_invalid_date"}, format="json")
    assert run.status_code == 202, run.content
    body = run.json()
    assert (body["status"], body["total"], body["done"], body["counts"]) == ("finished", 1, 1, {"APPLIED": 1})
    assert [(a["message"], a["outcome"], a["profile_versions"]) for a in body["attempts"]] == [
        (first["id"], "APPLIED", {"856": 1})
    ]
    assert ops.get(run.headers["Location"]).json()["attempts"] == body["attempts"]

    detail = trade["client"].get(f"{MESSAGES}{first['id']}/").json()
    assert (detail["status"], detail["profile_versions"], detail["errors"]) == ("APPLIED", {"856": 1}, [])
    assert detail["summary"]["documents"][0]["profile_version"] == 1

    direct = post(trade["client"], ship_notice(trade, 2, "11/29/26"))
    assert direct["status"] == "APPLIED"
    assert trade["client"].get(f"{MESSAGES}{direct['id']}/").json()["profile_versions"] == {"856": 1}

    elsewhere = post(other["client"], ship_notice(other, 3, "11/28/26"))
    assert (elsewhere["status"], elsewhere["errors"][0]["element"]) == ("QUARANTINED", "DTM02")
    assert other["client"].get(f"{MESSAGES}{elsewhere['id']}/").json()["profile_versions"] == {}

    [changed] = read_stream(f"supplier-profile-{trade['code']}-856")
    assert (changed.type, changed.payload["version"], changed.metadata["actor"]) == (
        "SupplierProfileChanged",
        1,
        f"user:ops-{unique}",
    )


def test_only_ops_change_profiles_and_supplier_tokens_see_only_their_own(unique):
    trade = make_trade(unique)
    other = make_trade(f"o{unique}")
    ops = client_for(f"ops-{unique}", OPS)
    planner = client_for(f"planner-{unique}", PLANNER)
    unbound = client_for(f"int2-{unique}", INTEGRATION)
    settings = {"settings": {"unit_aliases": {"CS": "CA"}}}

    assert_error(planner.put(profile_url(trade["code"]), settings, format="json"), 403, "permission_denied")
    assert_error(unbound.put(profile_url(trade["code"]), settings, format="json"), 403, "permission_denied")
    assert_error(trade["client"].patch(profile_url(trade["code"]), settings, format="json"), 403, "permission_denied")
    assert ops.put(profile_url(trade["code"]), settings, format="json").status_code == 201
    assert ops.put(profile_url(trade["code"]), settings, format="json").status_code == 200  # nothing changed
    assert ops.put(profile_url(other["code"], "DESADV"), settings, format="json").json()["document_type"] == "856"

    assert planner.get(profile_url(trade["code"])).json()["version"] == 1
    assert trade["client"].get(profile_url(trade["code"])).json()["settings"]["unit_aliases"] == {"CS": "CA"}
    assert_error(trade["client"].get(profile_url(other["code"])), 404, "profile_not_found")
    listed = trade["client"].get("/api/v1/supplier-profiles/").json()["results"]
    assert [(p["supplier"], p["version"]) for p in listed] == [(trade["code"], 1)]
    assert_error(
        planner.post(RUNS, {"supplier": trade["code"], "reason_code": "x"}, format="json"), 403, "permission_denied"
    )
    assert_error(
        trade["client"].post(RUNS, {"supplier": trade["code"], "reason_code": "x"}, format="json"),
        403,
        "permission_denied",
    )


def test_profile_writes_are_validated_versioned_and_guarded_against_lost_updates(unique):
    trade = make_trade(unique)
    ops = client_for(f"ops-{unique}", OPS)
    url = profile_url(trade["code"], "810")

    bad = assert_error(ops.put(url, {"settings": {"price_tolerance_pct": "-3"}}, format="json"), 400, "invalid_profile")
    assert bad["fields"] == {"field": "price_tolerance_pct"}
    assert "between 0 and 1000" in bad["message"]
    assert_error(ops.put(url, {"settings": {"colour": "red"}}, format="json"), 400, "invalid_profile")
    assert_error(ops.put(profile_url(trade["code"], "997"), {"settings": {}}, format="json"), 404, "profile_not_found")
    assert_error(ops.put(profile_url("NOPE"), {"settings": {}}, format="json"), 404, "supplier_not_found")
    assert_error(ops.put(url, {"settings": []}, format="json"), 400, "invalid")

    assert ops.put(url, {"settings": {"price_tolerance_pct": 2}}, format="json").status_code == 201
    patched = ops.patch(url, {"settings": {"qty_tolerance_pct": 1}, "expected_version": 1}, format="json")
    assert (patched.status_code, patched.json()["version"]) == (201, 2)
    assert (patched.json()["settings"]["price_tolerance_pct"], patched.json()["settings"]["qty_tolerance_pct"]) == (
        "2",
        "1",
    )
    stale = assert_error(
        ops.patch(url, {"settings": {"qty_tolerance_pct": 3}, "expected_version": 1}, format="json"),
        409,
        "profile_version_conflict",
    )
    assert (stale["fields"]["expected_version"], stale["fields"]["current_version"]) == (1, 2)

    versions = ops.get(url + "versions/").json()
    assert [(v["version"], v["changed_fields"]) for v in versions] == [
        (2, ["qty_tolerance_pct"]),
        (1, ["price_tolerance_pct"]),
    ]
    assert ops.get(url + "versions/1/").json()["settings"]["qty_tolerance_pct"] == "0"
    assert_error(ops.get(url + "versions/9/"), 404, "profile_not_found")
    assert_error(ops.get(f"{RUNS}999999999/"), 404, "reprocess_run_not_found")
