"""The order reference and the order line's reservation holder: written and read back in one place."""

import pytest

from orders.references import line_holder, line_id_from_holder, order_id_from_ref, order_ref


def test_a_holder_reads_back_as_its_line():
    assert line_holder(42, 7) == "order-42/line-7"
    assert line_id_from_holder(line_holder(42, 7)) == 7


@pytest.mark.parametrize("holder", ["order-42/line-", "transfer-9/line-3", "order-42/line-7/x", "", "order-x/line-7"])
def test_anything_else_is_not_an_order_line_holder(holder):
    with pytest.raises(ValueError, match="not an order line holder"):
        line_id_from_holder(holder)


def test_order_references():
    assert order_ref(42) == "order-42"
    assert order_id_from_ref("order-42") == 42
    assert [order_id_from_ref(ref) for ref in ("transfer-42", "order-", "order-4x", "", None)] == [None] * 5
