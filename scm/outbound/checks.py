"""System check: partner URLs configured in settings obey the outbound policy (`manage.py check`,
and every command that runs checks). Static only (scheme, literal addresses, localhost names): no
DNS lookups at startup; the connect-time check covers names."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from scm.outbound.exceptions import AddressRefused
from scm.outbound.policy import check_url

URL_SETTINGS = ("TMS_BASE_URL",)


@checks.register()
def outbound_urls(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    problems = []
    for name in URL_SETTINGS:
        url = getattr(settings, name, "")
        if not url:
            continue
        try:
            check_url(url, what=name, resolve_names=False)
        except AddressRefused as exc:
            problems.append(checks.Error(exc.message, id="outbound.E001", obj=name))
    return problems
