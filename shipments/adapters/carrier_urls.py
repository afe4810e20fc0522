"""The rules for a carrier's two URLs: the tracking feed we call, and the tracking page we hand out.

- `tracking_feed_url` is called by us, so it obeys the outbound policy (`scm.outbound.check_url`:
  http(s), no loopback, private, link-local ... address); the feed is polled through the breaker
  `carrier-feed:<code>`.
- `tracking_url_template` is a link integrators and the dashboard follow: it must be an http(s) URL
  (no `javascript:`, `data:` ...), checked when saved and again on every render
  (`Carrier.tracking_url`), where the tracking number is URL-quoted.
"""

from __future__ import annotations

from scm import outbound
from scm.errors import ValidationFailed


def feed_breaker_name(code: str) -> str:
    return f"carrier-feed:{code}"


def tracking_url_template_check(template: str) -> None:
    """Raise ValidationFailed unless the template, filled in, is an http(s) URL with a host."""
    if template and not outbound.is_http_url(template.replace("{tracking_number}", "X")):
        raise ValidationFailed(
            "tracking_url_template must be an http:// or https:// URL with a host, e.g. "
            "https://track.example/{tracking_number}.",
            tracking_url_template=template,
        )


def carrier_urls_check(carrier, *, resolve_names: bool = True) -> None:
    """Both rules on a carrier being saved. Raises ValidationFailed or AddressRefused (both 400)."""
    tracking_url_template_check(carrier.tracking_url_template)
    if carrier.tracking_feed_url:
        outbound.check_url(carrier.tracking_feed_url, what="tracking_feed_url", resolve_names=resolve_names)
