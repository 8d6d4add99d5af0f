//! Paid orders as JSON, natively or in the shape Odoo's
//! `pos.order.create_from_ui` accepts, so possync can feed an Odoo backend.

use serde_json::{Value, json};

/// Keeps the paid orders of a `/api/orders?archived=true` listing.
pub fn paid(orders: &Value) -> Vec<Value> {
    orders.as_array().into_iter().flatten().filter(|o| o["state"] == "paid").cloned().collect()
}

/// One order as Odoo's `create_from_ui` expects it: `{"id": uid, "data":
/// {...}}` with lines as `[0, 0, {...}]`. Amounts are converted from minor
/// units (two decimals) and quantities from thousandths.
pub fn to_odoo(order: &Value) -> Value {
    let money = |v: &Value| v.as_i64().unwrap_or(0) as f64 / 100.0;
    let lines: Vec<Value> = order["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["qty"].as_i64().unwrap_or(0) > 0)
        .map(|l| {
            json!([0, 0, {
                "product_id": l["product"],
                "full_product_name": l["display_name"],
                "qty": l["qty"].as_i64().unwrap_or(0) as f64 / 1000.0,
                "price_unit": money(&l["unit_price"]),
                "discount": l["discount"].as_i64().unwrap_or(0) as f64 / 100.0,
                "price_subtotal": money(&l["total"]),
                "price_subtotal_incl": money(&l["total"]),
                "note": l["note"],
            }])
        })
        .collect();
    let payments: Vec<Value> = order["payments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| json!([0, 0, { "amount": money(&p["amount"]), "payment_method_id": p["method"], "name": p["by"]["at"] }]))
        .collect();
    json!({
        "id": order["id"],
        "data": {
            "uid": order["id"],
            "name": order["name"],
            "amount_total": money(&order["totals"]["total"]),
            "amount_paid": money(&order["totals"]["paid"]),
            "amount_tax": 0.0,
            // Change given back, computed in minor units (floats would
            // give 4.199999… for 30.00 − 25.80).
            "amount_return": money(&json!((order["totals"]["paid"].as_i64().unwrap_or(0)
                - order["totals"]["total"].as_i64().unwrap_or(0))
            .max(0))),
            "partner_id": order["customer"],
            "table_id": order["table"],
            "customer_count": order["guests"],
            "lines": lines,
            "statement_ids": payments,
            "creation_date": order["created"]["at"],
            "user_id": order["created"]["user"],
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn odoo_shape_converts_units_and_keeps_only_paid_orders() {
        let orders = json!([
            {"id": "o1", "name": "BAR-0001", "state": "paid", "customer": "c9", "table": "T4", "guests": 3,
             "created": {"user": "ana", "terminal": "BAR", "at_ms": 1}, "totals": {"total": 2580, "paid": 3000, "due": -420},
             "lines": [
                {"product": "burger", "display_name": "Burger", "qty": 2000, "unit_price": 1290, "discount": 1000, "total": 2322, "note": ""},
                {"product": "fries", "display_name": "Fries", "qty": 0, "unit_price": 450, "discount": 0, "total": 0, "note": ""}
             ],
             "payments": [{"id": "p1", "method": "cash", "amount": 3000, "by": {"at_ms": 2}}]},
            {"id": "o2", "state": "open"}
        ]);
        let paid = paid(&orders);
        assert_eq!(paid.len(), 1);
        let o = to_odoo(&paid[0]);
        assert_eq!(o["id"], "o1");
        let d = &o["data"];
        assert_eq!((d["uid"].clone(), d["name"].clone()), (json!("o1"), json!("BAR-0001")));
        assert_eq!(d["amount_total"], 25.8);
        assert_eq!(d["amount_return"], 4.2);
        assert_eq!(
            (d["partner_id"].clone(), d["table_id"].clone(), d["customer_count"].clone()),
            (json!("c9"), json!("T4"), json!(3))
        );
        let lines = d["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 1, "removed lines (quantity 0) are not exported");
        assert_eq!(lines[0][0], 0);
        assert_eq!(lines[0][1], 0);
        assert_eq!(lines[0][2]["qty"], 2.0);
        assert_eq!(lines[0][2]["price_unit"], 12.9);
        assert_eq!(lines[0][2]["discount"], 10.0);
        assert_eq!(d["statement_ids"][0][2]["amount"], 30.0);
    }
}
