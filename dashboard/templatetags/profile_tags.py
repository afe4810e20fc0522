"""Template helpers for supplier profiles: the link from a quarantine reason to the profile field
that would fix it (suppliers.profiles.fixes)."""

from __future__ import annotations

from django import template

from suppliers.profiles.fixes import fix_for

register = template.Library()


@register.simple_tag
def profile_fix(problem: dict, message):
    """The ProfileFix for one stored problem of a message, or None; `{% profile_fix e m as fix %}`."""
    if not message.supplier_id:
        return None
    return fix_for(problem, message.document_types)


@register.filter
def fix_url(fix, supplier_id: int) -> str:
    """The admin form where this fix is made, for the message's supplier."""
    return fix.admin_url(supplier_id)


@register.filter
def versions(value: dict | None) -> str:
    """{"856": 3} → "856 v3"; empty → "none (defaults)"."""
    return ", ".join(f"{kind} v{number}" for kind, number in sorted((value or {}).items())) or "none (defaults)"
