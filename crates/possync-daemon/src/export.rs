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
            "amount_return": (money(&order["totals"]["paid"]) - money(&order["totals"]["total"])).max(0.0),
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
