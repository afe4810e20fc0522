"""Filters and the few POST forms of the dashboard.

Filters come from the query string, where anything can be typed. A value that does not parse is
dropped with a message saying what was ignored and why, and the page renders with the rest:
a bad filter never answers 500 (nor 400, which a planner cannot do anything with).
"""

from __future__ import annotations

from django import forms

from dashboard.selectors import POSITION_SORTS
from orders.models import OrderStatus

YES = (("", "any"), ("1", "yes"))


class LenientFilter(forms.Form):
    """A GET form whose `values()` keeps every valid field and explains each invalid one."""

    def values(self) -> tuple[dict, list[str]]:
        self.is_valid()
        values, problems = {}, []
        for name, field in self.fields.items():
            if name in self.errors:
                raw = self.data.get(name, "")
                reason = " ".join(str(error) for error in self.errors[name])
                problems.append(f"Ignored {field.label or name} {str(raw)[:60]!r}: {reason}")
                values[name] = field.initial
            else:
                values[name] = self.cleaned_data.get(name)
        return values, problems


class PageField(forms.IntegerField):
    def __init__(self, **kwargs):
        super().__init__(
            required=False,
            min_value=1,
            max_value=10**6,
            label="page",
            error_messages={"invalid": "not a page number"},
            **kwargs,
        )


class PositionFilter(LenientFilter):
    q = forms.CharField(required=False, max_length=64, label="search")
    location = forms.CharField(required=False, max_length=32, label="location")
    below = forms.ChoiceField(required=False, choices=YES, label="below reorder point")
    sort = forms.ChoiceField(
        required=False,
        initial="sku",
        label="sort",
        choices=[(key, key) for key in POSITION_SORTS] + [(f"-{key}", f"-{key}") for key in POSITION_SORTS],
    )
    page = PageField()


class SkuFilter(LenientFilter):
    location = forms.CharField(required=False, max_length=32, label="location")
    as_of = forms.DateField(
        required=False,
        label="as of",
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": "use a date like 2026-01-31"},
    )


class OrderFilter(LenientFilter):
    status = forms.ChoiceField(required=False, choices=[("", "any")] + list(OrderStatus.choices), label="status")
    customer = forms.CharField(required=False, max_length=32, label="customer")
    late = forms.ChoiceField(required=False, choices=YES, label="late")
    page = PageField()


class ShipmentFilter(LenientFilter):
    risk = forms.ChoiceField(
        required=False, choices=(("", "late and at risk"), ("late", "late"), ("at_risk", "at risk")), label="risk"
    )
    page = PageField()


class ExceptionFilter(LenientFilter):
    page = PageField()


class ReplenishmentFilter(LenientFilter):
    location = forms.CharField(required=False, max_length=32, label="location")


class CancelOrderForm(forms.Form):
    reason = forms.CharField(max_length=500, strip=True, error_messages={"required": "Say why the order is cancelled."})
