//! A closed possync order as the Odoo POS server reads it, in the shape of
//! `create_from_ui` (Odoo 13-17) or `sync_from_ui` (Odoo 18). Pure: the
//! order's JSON (the API's order view, or [`possync_model::OrderView`]
//! serialized) in, the payload out, or every reason it cannot be sent.
//!
//! Every field and its source in Odoo is listed in
//! `tests/fixtures/odoo/README.md`. In short:
//!
//! - ids: through [`OdooIds`], all or nothing. An order with one id that
//!   does not map is refused whole, naming each id, so the delivery outbox
//!   holds it with that error instead of Odoo receiving half of it.
//! - amounts: minor units to floats with the catalogue currency's
//!   decimals; quantities from thousandths; discounts from basis points to
//!   percent; times to `YYYY-MM-DD HH:MM:SS` UTC.
//! - lines: `tax_ids` are the line's tax snapshot (order view `taxes[].id`),
//!   `price_subtotal`/`price_subtotal_incl` its `untaxed`/`total`; an order
//!   with a fiscal position sends the product's catalogue taxes instead,
//!   since Odoo maps them itself (and checks they give the snapshot). A
//!   refund order's lines (minus their price in possync) get Odoo's sign:
//!   negative quantity, positive price.
//! - payments carry what was handed over (amount + change + tip) and
//!   `amount_return` the change, as the POS front end does: the server adds
//!   the change back as a negative cash payment. A tip becomes a line of
//!   the configured tip product.
//! - the reference is Odoo's `Order SSSSS-TTT-NNNN` (session, terminal
//!   number, sequence of the possync name): Odoo parses it
//!   (`_export_for_ui` in 16 takes `uid` out of it with a regex, 18's
//!   tracking number searches it), and 13-17 recognise a repeated order by
//!   it. `uuid`/`access_token` come from the possync order id: 18
//!   recognises a repeated order by `uuid`.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::odoo_config::{OdooApi, OdooTarget};
use crate::odoo_datetime::odoo_datetime;
use crate::odoo_ids::{IdKind, OdooIds};

/// One order, ready for Odoo.
#[derive(Debug, Clone, PartialEq)]
pub struct OdooOrder {
    /// `Order 00042-003-0017`: Odoo's `pos_reference`.
    pub reference: String,
    /// From the possync order id; Odoo 18's key for the order.
    pub uuid: String,
    /// One element of the `orders` argument of the API method.
    pub payload: Value,
}

/// Why an order cannot go to Odoo. Shown to operators as the delivery's
/// last error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("held, not sent to Odoo: {}", .0.join("; "))]
pub struct NotSendable(pub Vec<String>);

#[derive(Deserialize)]
struct Stamp {
    user: String,
    terminal: String,
    at_ms: i64,
}

#[derive(Deserialize)]
struct TaxRef {
    id: String,
}

#[derive(Deserialize)]
struct Line {
    id: String,
    product: String,
    display_name: String,
    qty: i64,
    unit_price: i64,
    discount: i64,
    #[serde(default)]
    note: String,
    total: i64,
    /// Issue 15's tax snapshot; absent or empty without a catalogue.
    #[serde(default)]
    taxes: Vec<TaxRef>,
    /// Issue 15's `price_subtotal`; absent without taxes (then = total).
    #[serde(default)]
    untaxed: Option<i64>,
}

#[derive(Deserialize)]
struct Payment {
    id: String,
    method: String,
    amount: i64,
    by: Stamp,
    #[serde(default)]
    change: i64,
    #[serde(default)]
    tip: i64,
}

#[derive(Deserialize)]
struct Totals {
    total: i64,
    paid: i64,
    #[serde(default)]
    change: i64,
    #[serde(default)]
    tip: i64,
    /// Issue 15's tax total; absent without a catalogue.
    #[serde(default)]
    tax: Option<i64>,
}

#[derive(Deserialize)]
struct Order {
    id: String,
    name: String,
    state: String,
    created: Stamp,
    #[serde(default)]
    closed: Option<Stamp>,
    #[serde(default)]
    customer: Option<String>,
    #[serde(default)]
    pricelist: Option<String>,
    #[serde(default)]
    fiscal_position: Option<String>,
    #[serde(default)]
    table: Option<String>,
    #[serde(default)]
    guests: u32,
    #[serde(default)]
    note: String,
    lines: Vec<Line>,
    payments: Vec<Payment>,
    totals: Totals,
}

/// Collects every problem instead of stopping at the first.
struct Problems(Vec<String>);

impl Problems {
    fn id(&mut self, ids: &OdooIds, kind: IdKind, id: &str, context: &str) -> i64 {
        match ids.map(kind, id) {
            Some(n) => n,
            None => {
                self.0.push(format!("{context}{} {id:?} is not an Odoo id in the catalogue", kind.label()));
                0
            }
        }
    }
}

/// Maps one paid order. `order` is the order's JSON.
pub fn odoo_order(order: &Value, target: &OdooTarget, ids: &OdooIds) -> Result<OdooOrder, NotSendable> {
    let order = Order::deserialize(order).map_err(|e| NotSendable(vec![format!("unreadable order: {e}")]))?;
    let mut p = Problems(Vec::new());
    if order.state != "paid" {
        p.0.push(format!("order {} is {}: only paid orders go to Odoo", order.id, order.state));
    }
    let scale = 10f64.powi(i32::from(ids.decimals()));
    let money = |minor: i64| minor as f64 / scale;

    let terminal_no = match target.terminals.get(&order.created.terminal) {
        Some(n) => *n,
        None => {
            p.0.push(format!(
                "terminal {} has no number in the sink's `terminals` (Odoo's order reference needs one)",
                order.created.terminal
            ));
            0
        }
    };
    let sequence = match order.name.rsplit_once('-').and_then(|(_, n)| n.parse::<u32>().ok()) {
        Some(n) => n,
        None => {
            p.0.push(format!("order name {:?} does not end in a sequence number", order.name));
            0
        }
    };
    let uid = format!("{:05}-{terminal_no:03}-{sequence:04}", target.session_id.rem_euclid(100_000));
    let reference = format!("Order {uid}");
    let uuid = uuid_from(&order.id);

    let user = p.id(ids, IdKind::User, &order.created.user, "");
    let partner = order.customer.as_deref().map(|c| p.id(ids, IdKind::Partner, c, ""));
    let pricelist = match order.pricelist.as_deref().or_else(|| ids.default_pricelist()) {
        Some(pl) => Some(p.id(ids, IdKind::Pricelist, pl, "")),
        None if target.api == OdooApi::CreateFromUi => {
            // Required on pos.order up to 17, and an explicit false is not
            // replaced by the session's.
            p.0.push("no pricelist on the order and none by default in the catalogue".into());
            None
        }
        None => None,
    };
    let fiscal_position =
        order.fiscal_position.as_deref().map(|f| (f, p.id(ids, IdKind::FiscalPosition, f, "")));
    let table = order.table.as_deref().map(|t| p.id(ids, IdKind::Table, t, ""));

    let line_uuid = |line_id: &str| uuid_from(&format!("{}/{line_id}", order.id));
    let mut lines = Vec::new();
    let mut tax_from_lines = 0i64;
    for (n, l) in order.lines.iter().filter(|l| l.qty != 0).enumerate() {
        let at = format!("line {} ({}): ", n + 1, l.display_name);
        let product = p.id(ids, IdKind::Product, &l.product, &at);
        let snapshot: Vec<&str> = l.taxes.iter().map(|t| t.id.as_str()).collect();
        let tax_ids: Vec<i64> = match fiscal_position {
            None => snapshot.iter().map(|t| p.id(ids, IdKind::Tax, t, &at)).collect(),
            Some((fp, _)) => match taxes_before(ids, fp, &l.product, &snapshot) {
                Some(src) => src.iter().map(|t| p.id(ids, IdKind::Tax, t, &at)).collect(),
                None => {
                    p.0.push(format!(
                        "{at}taxes {snapshot:?} are not product {:?}'s catalogue taxes through fiscal position {fp:?}",
                        l.product
                    ));
                    Vec::new()
                }
            },
        };
        let untaxed = l.untaxed.unwrap_or(l.total);
        tax_from_lines += l.total - untaxed;
        // Odoo's refund lines: negative quantity, positive price.
        let sign = if l.unit_price < 0 { -1 } else { 1 };
        let mut line = json!({
            "product_id": product,
            "qty": (sign * l.qty) as f64 / 1000.0,
            "price_unit": money(sign * l.unit_price),
            "discount": l.discount as f64 / 100.0,
            "price_subtotal": money(untaxed),
            "price_subtotal_incl": money(l.total),
            "full_product_name": l.display_name,
            "customer_note": l.note,
        });
        match target.api {
            OdooApi::CreateFromUi => {
                line["tax_ids"] = json!([[6, false, tax_ids]]);
                line["price_extra"] = json!(0.0);
                line["pack_lot_ids"] = json!([]);
            }
            OdooApi::SyncFromUi => {
                line["tax_ids"] = json!([[6, 0, tax_ids]]);
                line["uuid"] = json!(line_uuid(&l.id));
            }
        }
        lines.push(json!([0, 0, line]));
    }
    if order.totals.tip != 0 {
        match target.tip_product {
            Some(tip_product) => {
                let mut line = json!({
                    "product_id": tip_product,
                    "qty": 1.0,
                    "price_unit": money(order.totals.tip),
                    "discount": 0.0,
                    "price_subtotal": money(order.totals.tip),
                    "price_subtotal_incl": money(order.totals.tip),
                    "full_product_name": "Tip",
                    "customer_note": "",
                });
                match target.api {
                    OdooApi::CreateFromUi => line["tax_ids"] = json!([[6, false, []]]),
                    OdooApi::SyncFromUi => {
                        line["tax_ids"] = json!([[6, 0, []]]);
                        line["uuid"] = json!(line_uuid("tip"));
                    }
                }
                lines.push(json!([0, 0, line]));
            }
            None => p.0.push("the order has a tip and the sink has no `tip_product`".into()),
        }
    }

    let mut payments = Vec::new();
    for (n, pay) in order.payments.iter().enumerate() {
        let at = format!("payment {}: ", n + 1);
        let method = p.id(ids, IdKind::PaymentMethod, &pay.method, &at);
        // What was handed over: the server gives `amount_return` back.
        let handed = money(pay.amount + pay.change + pay.tip);
        let date = odoo_datetime(pay.by.at_ms);
        payments.push(match target.api {
            OdooApi::CreateFromUi => json!([0, 0, {
                "name": date, "payment_method_id": method, "amount": handed,
                "payment_status": "", "ticket": "", "card_type": "", "cardholder_name": "", "transaction_id": "",
            }]),
            OdooApi::SyncFromUi => json!([0, 0, {
                "uuid": uuid_from(&format!("{}/{}", order.id, pay.id)),
                "payment_date": date, "payment_method_id": method, "amount": handed,
            }]),
        });
    }
    if !p.0.is_empty() {
        return Err(NotSendable(p.0));
    }

    let date = odoo_datetime(order.closed.as_ref().map_or(order.created.at_ms, |c| c.at_ms));
    let t = &order.totals;
    let amount_tax = t.tax.unwrap_or(tax_from_lines);
    let amount_total = money(t.total + t.tip);
    let amount_paid = money(t.paid + t.tip);
    let amount_return = money(t.change);
    let (partner, fiscal_position_id) =
        (partner.map_or(json!(false), |x| json!(x)), fiscal_position.map_or(json!(false), |(_, x)| json!(x)));
    let payload = match target.api {
        OdooApi::CreateFromUi => {
            let mut data = json!({
                "name": reference,
                "uid": uid,
                "sequence_number": sequence,
                "pos_session_id": target.session_id,
                "user_id": user,
                "partner_id": partner,
                "pricelist_id": pricelist,
                "fiscal_position_id": fiscal_position_id,
                // 13-16 read `creation_date`, 17 `date_order`.
                "creation_date": date,
                "date_order": date,
                "amount_total": amount_total,
                "amount_paid": amount_paid,
                "amount_tax": money(amount_tax),
                "amount_return": amount_return,
                "lines": lines,
                "statement_ids": payments,
                "to_invoice": false,
                "is_tipped": t.tip != 0,
                "tip_amount": money(t.tip),
                "access_token": uuid,
                "server_id": false,
            });
            if let Some(table) = table {
                data["table_id"] = json!(table);
                data["customer_count"] = json!(order.guests);
            }
            json!({"id": uid, "data": data, "to_invoice": false})
        }
        OdooApi::SyncFromUi => {
            let mut record = json!({
                "name": reference,
                "uuid": uuid,
                "access_token": uuid,
                "session_id": target.session_id,
                "state": "paid",
                "sequence_number": sequence,
                "user_id": user,
                "partner_id": partner,
                "fiscal_position_id": fiscal_position_id,
                "date_order": date,
                "amount_total": amount_total,
                "amount_paid": amount_paid,
                "amount_tax": money(amount_tax),
                "amount_return": amount_return,
                "lines": lines,
                "payment_ids": payments,
                "to_invoice": false,
                "is_tipped": t.tip != 0,
                "tip_amount": money(t.tip),
            });
            // Only fields pos.order has: 18 creates the record from the
            // dict as it is, and an unknown key is an error.
            if let Some(pl) = pricelist {
                record["pricelist_id"] = json!(pl);
            }
            if let Some(table) = table {
                record["table_id"] = json!(table);
                record["customer_count"] = json!(order.guests);
            }
            if !order.note.is_empty() {
                record["general_note"] = json!(order.note);
            }
            record
        }
    };
    Ok(OdooOrder { reference, uuid, payload })
}

/// The product's catalogue taxes when the fiscal position maps them onto
/// exactly `snapshot` (Odoo gets the taxes before the fiscal position and
/// maps them itself); `None` when they do not.
fn taxes_before(
    ids: &OdooIds,
    fiscal_position: &str,
    product: &str,
    snapshot: &[&str],
) -> Option<Vec<String>> {
    let fp = ids.fiscal_position(fiscal_position)?;
    let src = ids.product_taxes(product)?;
    let mapped: BTreeSet<String> = src.iter().flat_map(|t| fp.map_tax(t)).map(String::from).collect();
    let wanted: BTreeSet<String> = snapshot.iter().map(|s| (*s).to_owned()).collect();
    (mapped == wanted).then(|| src.iter().map(|t| t.as_str().to_owned()).collect())
}

/// A UUID-shaped key from a possync id: the id's own 128 bits when it is 32
/// hex digits (order, line and payment ids are), else a hash of it.
pub fn uuid_from(id: &str) -> String {
    use sha2::Digest;
    let hex: String = if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        id.to_ascii_lowercase()
    } else {
        sha2::Sha256::digest(id.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect()
    };
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}
