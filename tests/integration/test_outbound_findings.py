"""Issue 14 item 3, each finding reproduced: ops-configurable paths and URLs that reached inside the
host. Each is now refused at save (400 or a form error, nothing saved) and, for a value stored before
the rule (written straight to its row here), at use: a failed poll or attempt naming the reason,
with nothing fetched, read, moved or stored.

Runs with the real (empty) outbound allow-list (`strict_outbound`); the internal partners are real
servers on loopback that must never see a request.
"""

from __future__ import annotations

import ipaddress
import tempfile
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from pytest_httpserver import HTTPServer

from scm.outbound import policy
from shipments import services as shipping
from shipments.adapters.tms import TmsClient, TmsLine, TmsPlanRequest
from shipments.exceptions import CarrierFeedError, TmsAddressRefused
from shipments.models import Carrier
from suppliers import polling, tasks
from suppliers.models import InboundMessage, PollAttempt, Supplier
from tests.api.helpers import assert_error, client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("strict_outbound")]


@pytest.fixture
def ops(unique):
    return client_for(f"ops-{unique}", "ops")


@pytest.fixture
def internal():
    """An internal service on loopback (think /metrics, Redis, the cloud metadata service)."""
    with HTTPServer(host="127.0.0.1", port=0) as server:
        server.expect_request("/metrics").respond_with_data("scm_secret_metric 1\n")
        yield server


@pytest.fixture
def supplier(ops, unique):
    response = ops.post("/api/v1/suppliers/", {"code": f"SUP-{unique}", "name": "Acme"}, format="json")
    assert response.status_code == 201, response.content
    return Supplier.objects.get(code=f"SUP-{unique}")


@pytest.fixture
def outside(tmp_path_factory):
    """A folder outside the drop folder root, holding a file that must never be read or moved."""
    folder = Path(tempfile.mkdtemp(prefix="scm-outside-"))
    root = Path(django_settings.SUPPLIER_DROP_FOLDER_ROOT).resolve()
    assert not folder.resolve().is_relative_to(root)
    (folder / "secret.edi").write_bytes(b"ISA*not yours")
    yield folder
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if not path.is_dir() or path.is_symlink() else path.rmdir()
    folder.rmdir()


def untouched(folder: Path) -> bool:
    return sorted(p.name for p in folder.iterdir()) == ["secret.edi"]


def store_unchecked(supplier: Supplier, **fields) -> None:
    """A value saved before the rule existed (or by a bug): written straight to the row."""
    Supplier.objects.filter(pk=supplier.pk).update(**fields)


def last_poll(supplier: Supplier) -> PollAttempt:
    return PollAttempt.objects.filter(supplier=supplier).latest("pk")


# --- Drop folders --------------------------------------------------------------------------------


def test_a_drop_folder_outside_the_root_is_refused_at_save_and_at_poll(ops, supplier, outside):
    error = assert_error(
        ops.patch(f"/api/v1/suppliers/{supplier.code}/", {"drop_folder": str(outside)}, format="json"), 400, "invalid"
    )
    assert "is not inside the drop folder root" in error["fields"]["drop_folder"][0]
    assert Supplier.objects.get(pk=supplier.pk).drop_folder == ""

    store_unchecked(supplier, drop_folder=str(outside))
    attempt = polling.drop_folder_poll(supplier_id=supplier.pk)
    assert attempt.status == "FAILED" and "is not inside the drop folder root" in attempt.error
    assert untouched(outside) and not InboundMessage.objects.filter(supplier=supplier).exists()


def test_a_drop_folder_escaping_through_dot_dot_is_refused(ops, supplier, tmp_path, outside):
    sneaky = f"{tmp_path}/{'../' * 12}{str(outside).lstrip('/')}"
    error = assert_error(
        ops.patch(f"/api/v1/suppliers/{supplier.code}/", {"drop_folder": sneaky}, format="json"), 400, "invalid"
    )
    assert "contains '..'" in error["fields"]["drop_folder"][0]

    store_unchecked(supplier, drop_folder=sneaky)
    attempt = polling.drop_folder_poll(supplier_id=supplier.pk)
    assert attempt.status == "FAILED" and "contains '..'" in attempt.error
    assert untouched(outside)


def test_a_drop_folder_escaping_through_a_symlink_is_refused_at_save_and_when_planted_later(
    ops, supplier, tmp_path, outside
):
    link = tmp_path / "acme"
    link.symlink_to(outside, target_is_directory=True)
    error = assert_error(
        ops.patch(f"/api/v1/suppliers/{supplier.code}/", {"drop_folder": str(link)}, format="json"), 400, "invalid"
    )
    assert "through a symbolic link" in error["fields"]["drop_folder"][0]

    # Saved while it was a real folder; swapped for a link afterwards.
    link.unlink()
    link.mkdir()
    saved = ops.patch(f"/api/v1/suppliers/{supplier.code}/", {"drop_folder": str(link)}, format="json")
    assert saved.status_code == 200
    link.rmdir()
    link.symlink_to(outside, target_is_directory=True)
    attempt = polling.drop_folder_poll(supplier_id=supplier.pk)
    assert attempt.status == "FAILED" and "through a symbolic link" in attempt.error
    assert untouched(outside) and not InboundMessage.objects.filter(supplier=supplier).exists()


def test_a_symlinked_file_inside_a_good_folder_is_reported_and_never_read(supplier, tmp_path, outside):
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "passwd.edi").symlink_to(outside / "secret.edi")
    store_unchecked(supplier, drop_folder=str(folder))
    attempt = polling.drop_folder_poll(supplier_id=supplier.pk)
    assert (attempt.status, attempt.messages_stored) == ("FAILED", 0)
    assert attempt.error == "passwd.edi: a symbolic link; not read (a drop folder takes regular files only)"
    assert (folder / "passwd.edi").is_symlink() and untouched(outside)
    assert not InboundMessage.objects.filter(supplier=supplier).exists()


def test_with_no_root_configured_no_drop_folder_is_accepted_or_polled(ops, supplier, tmp_path, settings):
    settings.SUPPLIER_DROP_FOLDER_ROOT = ""
    (tmp_path / "x.edi").write_bytes(b"ISA")
    error = assert_error(
        ops.patch(f"/api/v1/suppliers/{supplier.code}/", {"drop_folder": str(tmp_path)}, format="json"), 400, "invalid"
    )
    assert "SUPPLIER_DROP_FOLDER_ROOT" in error["fields"]["drop_folder"][0]
    store_unchecked(supplier, drop_folder=str(tmp_path))
    assert "Drop folders are off" in polling.drop_folder_poll(supplier_id=supplier.pk).error
    assert (tmp_path / "x.edi").exists()


def test_the_admin_form_refuses_an_outside_drop_folder(client, supplier, outside, unique):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser(username=f"adm-{unique}", password="x" * 16))
    response = client.post(
        f"/admin/suppliers/supplier/{supplier.pk}/change/",
        {
            "code": supplier.code, "name": "Acme", "active": "on", "isa_qualifier": "ZZ", "formats": "[]",
            "drop_folder": str(outside), "feed_url": "", "poll_interval_seconds": 300, "isa_id": "", "gs_id": "",
        },
    )
    assert response.status_code == 200 and b"is not inside the drop folder root" in response.content
    assert Supplier.objects.get(pk=supplier.pk).drop_folder == ""


# --- Supplier feed -------------------------------------------------------------------------------


def test_a_feed_url_on_loopback_is_refused_at_save_and_at_poll_and_nothing_is_fetched(ops, supplier, internal):
    url = internal.url_for("/metrics")
    error = assert_error(
        ops.patch(f"/api/v1/suppliers/{supplier.code}/", {"feed_url": url}, format="json"), 400, "invalid"
    )
    assert "feed_url is refused by the outbound policy" in error["fields"]["feed_url"][0]

    store_unchecked(supplier, feed_url=url)
    assert tasks.poll_supplier_feed.delay(supplier.pk).get() == "failed"
    attempt = last_poll(supplier)
    assert attempt.status == "FAILED" and attempt.tries == 1
    assert attempt.error.startswith(f"calling {url}: Refused by the outbound policy: 127.0.0.1:{internal.port}")
    assert internal.log == [] and not InboundMessage.objects.filter(supplier=supplier).exists()


# --- Carriers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "feed_url",
    ["http://127.0.0.1:6379/", "http://[::1]/feed", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.7/x"],
)
def test_a_carrier_feed_url_reaching_inside_is_refused_at_save(ops, unique, feed_url):
    response = ops.post(
        "/api/v1/carriers/", {"code": f"C-{unique}", "name": "C", "tracking_feed_url": feed_url}, format="json"
    )
    error = assert_error(response, 400, "invalid")
    assert "tracking_feed_url is refused by the outbound policy" in error["fields"]["tracking_feed_url"][0]
    assert not Carrier.objects.filter(code=f"C-{unique}").exists()


def test_a_stored_carrier_feed_on_loopback_is_refused_at_poll_without_a_request(unique, internal):
    carrier = shipping.carrier_upsert(code=f"C-{unique}", name="C")
    Carrier.objects.filter(pk=carrier.pk).update(tracking_feed_url=internal.url_for("/metrics"))
    with pytest.raises(CarrierFeedError) as caught:
        shipping.carrier_feed_poll(code=carrier.code)
    assert caught.value.retryable is False
    assert caught.value.message.startswith("feed not read: Refused by the outbound policy: 127.0.0.1:")
    assert internal.log == []
    carrier.refresh_from_db()
    assert carrier.feed_last_error == caught.value.message


@pytest.mark.parametrize(
    "template",
    ["javascript:alert(document.cookie)//{tracking_number}", "data:text/html,{tracking_number}", "{tracking_number}"],
)
def test_a_tracking_url_template_must_be_http_at_save_and_at_render(ops, unique, template):
    response = ops.post(
        "/api/v1/carriers/", {"code": f"J-{unique}", "name": "J", "tracking_url_template": template}, format="json"
    )
    error = assert_error(response, 400, "invalid")
    assert "must be an http:// or https:// URL" in error["fields"]["tracking_url_template"][0]

    carrier = shipping.carrier_upsert(code=f"J-{unique}", name="J")
    Carrier.objects.filter(pk=carrier.pk).update(tracking_url_template=template)
    carrier.refresh_from_db()
    assert carrier.tracking_url("1Z999") == ""
    Carrier.objects.filter(pk=carrier.pk).update(tracking_url_template="https://t.example/{tracking_number}")
    carrier.refresh_from_db()
    assert carrier.tracking_url("javascript:alert(1)") == "https://t.example/javascript%3Aalert%281%29"


# --- Webhooks (names resolving to loopback) ------------------------------------------------------


def test_a_webhook_to_localtest_me_is_refused_unless_allow_listed(ops, internal, monkeypatch, settings):
    real = policy.resolver
    monkeypatch.setattr(  # public DNS answers 127.0.0.1 for localtest.me; there is no public DNS here
        policy, "resolver", lambda h, p: [ipaddress.ip_address("127.0.0.1")] if h == "localtest.me" else real(h, p)
    )
    url = f"http://localtest.me:{internal.port}/metrics"
    body = {"url": url, "secret": "0123456789abcdef-secret"}
    error = assert_error(ops.post("/api/v1/webhooks/", body, format="json"), 400, "outbound_address_refused")
    assert error["message"].startswith(
        f"The webhook URL is refused by the outbound policy: localtest.me resolves to 127.0.0.1:{internal.port}"
    )

    settings.OUTBOUND_ALLOWED_NETWORKS = [f"127.0.0.1:{internal.port}"]
    assert ops.post("/api/v1/webhooks/", body, format="json").status_code == 201


# --- TMS -----------------------------------------------------------------------------------------


def test_a_tms_url_on_loopback_is_refused_at_first_use_and_reported_by_the_system_check(internal, unique, settings):
    from scm.outbound.checks import outbound_urls

    settings.TMS_BASE_URL = internal.url_for("/")
    settings.TMS_CIRCUIT_NAME = f"tms-{unique}"
    assert [problem.id for problem in outbound_urls()] == ["outbound.E001"]
    request = TmsPlanRequest(reference=f"order-{unique}", plan_key="k", from_location="WH", lines=(TmsLine("S", 1),))
    with pytest.raises(TmsAddressRefused) as caught:
        TmsClient.from_settings().plan(request)
    assert caught.value.retryable is True and caught.value.attempts == 0
    assert "TMS_BASE_URL is refused by the outbound policy" in caught.value.message
    assert internal.log == []

