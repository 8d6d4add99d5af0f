//! Paid orders as JSON, natively or as the `orders` argument of Odoo's
//! `pos.order.create_from_ui` (13-17) or `sync_from_ui` (18), mapped
//! exactly as the Odoo sink maps them (`possync_sink::odoo_order`): Odoo
//! ids through the catalogue imported from that Odoo, an order whose ids
//! do not map left out and reported, never sent half-right.

use possync_sink::{OdooIds, OdooTarget, odoo_order};
use serde_json::Value;

/// Keeps the paid orders of a `/api/orders?archived=true` listing.
pub fn paid(orders: &Value) -> Vec<Value> {
    orders.as_array().into_iter().flatten().filter(|o| o["state"] == "paid").cloned().collect()
}

/// The Odoo payloads, and the orders left out with why.
#[derive(Debug, Default)]
pub struct OdooExport {
    pub orders: Vec<Value>,
    /// `(order name, reason)`.
    pub held: Vec<(String, String)>,
}

pub fn to_odoo(paid: &[Value], target: &OdooTarget, ids: &OdooIds) -> OdooExport {
    let mut out = OdooExport::default();
    for order in paid {
        match odoo_order(order, target, ids) {
            Ok(mapped) => out.orders.push(mapped.payload),
            Err(e) => {
                let name = order["name"].as_str().or_else(|| order["id"].as_str()).unwrap_or("?");
                out.held.push((name.to_owned(), e.to_string()));
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use possync_catalogue::{
        Catalogue, Currency, PaymentKind, PaymentMethod, PaymentMethodId, Pricelist, PricelistId, Product,
        ProductId, Role, TaxId, User, UserId,
    };
    use possync_sink::OdooApi;
    use serde_json::json;

    use super::*;

    fn ids() -> OdooIds {
        let mut c = Catalogue::empty(Currency::eur());
        for (id, name, price) in [("26", "Burger", 1290), ("27", "Fries", 450)] {
            c.products.push(Product {
                id: ProductId::parse(id).unwrap(),
                name: name.into(),
                category: None,
                price: possync_catalogue::Money(price),
                taxes: vec![TaxId::parse("5").unwrap()],
                barcode: None,
                available: true,
                to_weight: false,
            });
        }
        c.taxes.push(
            serde_json::from_value(json!({"id": "5", "name": "VAT 10%", "amount_type": "percent", "amount": "10",
                "price_include": true, "include_base_amount": false, "is_base_affected": true, "sequence": 1}))
            .unwrap(),
        );
        c.payment_methods.push(PaymentMethod {
            id: PaymentMethodId::parse("1").unwrap(),
            name: "Cash".into(),
            kind: PaymentKind::Cash,
            gives_change: None,
        });
        c.pricelists.push(Pricelist {
            id: PricelistId::parse("1").unwrap(),
            name: "Public".into(),
            rules: vec![],
        });
        c.default_pricelist = Some(PricelistId::parse("1").unwrap());
        c.users.push(User {
            id: UserId::parse("2").unwrap(),
            name: "Ana".into(),
            role: Role::Cashier,
            pin: None,
        });
        OdooIds::new(c)
    }

    #[test]
    fn odoo_export_maps_ids_and_fills_session_sequence_taxes_and_dates() {
        let orders = json!([
            {"id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "name": "BAR-0001", "state": "paid", "customer": null,
             "table": null, "guests": 3, "created": {"user": "2", "terminal": "BAR", "at_ms": 1_796_299_200_000_i64},
             "closed": {"user": "2", "terminal": "BAR", "at_ms": 1_796_299_260_000_i64},
             "totals": {"total": 2580, "paid": 2580, "due": 0, "change": 420, "tip": 0, "tax": 235},
             "lines": [
                {"id": "l1", "product": "26", "display_name": "Burger", "qty": 2000, "unit_price": 1290, "discount": 1000,
                 "total": 2322, "untaxed": 2111, "taxes": [{"id": "5"}], "note": ""},
                {"id": "l2", "product": "27", "display_name": "Fries", "qty": 1000, "unit_price": 450, "discount": 1000,
                 "total": 258, "untaxed": 234, "taxes": [{"id": "5"}], "note": ""},
                {"id": "l3", "product": "27", "display_name": "Fries", "qty": 0, "unit_price": 450, "discount": 0,
                 "total": 0, "note": ""}
             ],
             "payments": [{"id": "p1", "method": "1", "amount": 2580, "change": 420, "tip": 0,
                           "by": {"user": "2", "terminal": "BAR", "at_ms": 1_796_299_250_000_i64}}]},
            {"id": "o2", "name": "BAR-0002", "state": "paid", "created": {"user": "ana", "terminal": "BAR", "at_ms": 1},
             "totals": {"total": 450, "paid": 450}, "lines": [{"id": "l1", "product": "fries", "display_name": "Fries",
             "qty": 1000, "unit_price": 450, "discount": 0, "total": 450}], "payments": []},
            {"id": "o3", "state": "open"}
        ]);
        let paid = paid(&orders);
        assert_eq!(paid.len(), 2);
        let target = OdooTarget {
            api: OdooApi::CreateFromUi,
            session_id: 7,
            terminals: BTreeMap::from([("BAR".into(), 1)]),
            tip_product: None,
        };
        let out = to_odoo(&paid, &target, &ids());
        assert_eq!(out.orders.len(), 1);
        assert_eq!(out.held.len(), 1, "the order with possync-only ids is left out");
        assert!(
            out.held[0].1.contains("product \"fries\"") && out.held[0].1.contains("user \"ana\""),
            "{:?}",
            out.held
        );
        let d = &out.orders[0]["data"];
        assert_eq!(
            (d["name"].clone(), d["pos_session_id"].clone()),
            (json!("Order 00007-001-0001"), json!(7))
        );
        assert_eq!((d["sequence_number"].clone(), d["user_id"].clone()), (json!(1), json!(2)));
        assert_eq!((d["amount_total"].clone(), d["amount_tax"].clone()), (json!(25.8), json!(2.35)));
        assert_eq!((d["amount_paid"].clone(), d["amount_return"].clone()), (json!(25.8), json!(4.2)));
        assert_eq!(d["creation_date"], "2026-12-03 12:01:00", "from the closing's at_ms");
        let lines = d["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 2, "removed lines (quantity 0) are not exported");
        assert_eq!((lines[0][2]["product_id"].clone(), lines[0][2]["qty"].clone()), (json!(26), json!(2.0)));
        assert_eq!(
            (lines[0][2]["price_unit"].clone(), lines[0][2]["discount"].clone()),
            (json!(12.9), json!(10.0))
        );
        assert_eq!(lines[0][2]["tax_ids"], json!([[6, false, [5]]]));
        let pay = &d["statement_ids"][0][2];
        assert_eq!((pay["amount"].clone(), pay["payment_method_id"].clone()), (json!(30.0), json!(1)));
        assert_eq!(pay["name"], "2026-12-03 12:00:50", "the payment's date, from its at_ms");
    }
}
