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

/// Maps one order, collecting every problem instead of stopping at the
/// first.
struct Mapper<'a> {
    target: &'a OdooTarget,
    ids: &'a OdooIds,
    order: &'a Order,
    /// Minor units per major unit.
    scale: f64,
    problems: Vec<String>,
}

/// The order's ids and numbers on the Odoo side, once mapped.
struct Header {
    uid: String,
    reference: String,
    sequence: u32,
    user: i64,
    partner: Value,
    pricelist: Option<i64>,
    fiscal_position: Value,
    table: Option<i64>,
}

impl Mapper<'_> {
    fn money(&self, minor: i64) -> f64 {
        minor as f64 / self.scale
    }

    fn id(&mut self, kind: IdKind, id: &str, context: &str) -> i64 {
        match self.ids.map(kind, id) {
            Some(n) => n,
            None => {
                self.problems
                    .push(format!("{context}{} {id:?} is not an Odoo id in the catalogue", kind.label()));
                0
            }
        }
    }

    fn header(&mut self) -> Header {
        let o = self.order;
        let terminal_no = match self.target.terminals.get(&o.created.terminal) {
            Some(n) => *n,
            None => {
                self.problems.push(format!(
                    "terminal {} has no number in the sink's `terminals` (Odoo's order reference needs one)",
                    o.created.terminal
                ));
                0
            }
        };
        let sequence = match o.name.rsplit_once('-').and_then(|(_, n)| n.parse::<u32>().ok()) {
            Some(n) => n,
            None => {
                self.problems.push(format!("order name {:?} does not end in a sequence number", o.name));
                0
            }
        };
        let uid = format!("{:05}-{terminal_no:03}-{sequence:04}", self.target.session_id.rem_euclid(100_000));
        let user = self.id(IdKind::User, &o.created.user, "");
        let partner = match o.customer.as_deref() {
            Some(c) => json!(self.id(IdKind::Partner, c, "")),
            None => json!(false),
        };
        let pricelist = match o.pricelist.as_deref().or_else(|| self.ids.default_pricelist()) {
            Some(pl) => Some(self.id(IdKind::Pricelist, pl, "")),
            None if self.target.api == OdooApi::CreateFromUi => {
                // Required on pos.order up to 17, and an explicit false is
                // not replaced by the session's.
                self.problems.push("no pricelist on the order and none by default in the catalogue".into());
                None
            }
            None => None,
        };
        let fiscal_position = match o.fiscal_position.as_deref() {
            Some(f) => json!(self.id(IdKind::FiscalPosition, f, "")),
            None => json!(false),
        };
        let table = o.table.as_deref().map(|t| self.id(IdKind::Table, t, ""));
        Header {
            reference: format!("Order {uid}"),
            uid,
            sequence,
            user,
            partner,
            pricelist,
            fiscal_position,
            table,
        }
    }

    /// The Odoo tax ids of a line: its tax copies, or with a fiscal
    /// position the product's catalogue taxes that map onto them.
    fn tax_ids(&mut self, l: &Line, at: &str) -> Vec<i64> {
        let snapshot: Vec<&str> = l.taxes.iter().map(|t| t.id.as_str()).collect();
        let taxes: Vec<String> = match self.order.fiscal_position.as_deref() {
            None => snapshot.iter().map(|t| (*t).to_owned()).collect(),
            Some(fp) => match taxes_before(self.ids, fp, &l.product, &snapshot) {
                Some(src) => src,
                None => {
                    self.problems.push(format!(
                        "{at}taxes {snapshot:?} are not product {:?}'s catalogue taxes through fiscal position {fp:?}",
                        l.product
                    ));
                    return Vec::new();
                }
            },
        };
        taxes.iter().map(|t| self.id(IdKind::Tax, t, at)).collect()
    }

    /// One line as an ORM create command, in the target's shape.
    fn line(&self, key: &str, fields: Value, tax_ids: Vec<i64>) -> Value {
        let mut line = fields;
        match self.target.api {
            OdooApi::CreateFromUi => {
                line["tax_ids"] = json!([[6, false, tax_ids]]);
                line["price_extra"] = json!(0.0);
                line["pack_lot_ids"] = json!([]);
            }
            OdooApi::SyncFromUi => {
                line["tax_ids"] = json!([[6, 0, tax_ids]]);
                line["uuid"] = json!(uuid_from(&format!("{}/{key}", self.order.id)));
            }
        }
        json!([0, 0, line])
    }

    /// The sold lines (removed ones left out), then the tip's; and the tax
    /// the lines carry.
    fn lines(&mut self) -> (Vec<Value>, i64) {
        let mut out = Vec::new();
        let mut tax = 0i64;
        let order = self.order;
        for (n, l) in order.lines.iter().filter(|l| l.qty != 0).enumerate() {
            let at = format!("line {} ({}): ", n + 1, l.display_name);
            let product = self.id(IdKind::Product, &l.product, &at);
            let tax_ids = self.tax_ids(l, &at);
            let untaxed = l.untaxed.unwrap_or(l.total);
            tax += l.total - untaxed;
            // Odoo's refund lines: negative quantity, positive price.
            let sign = if l.unit_price < 0 { -1 } else { 1 };
            let fields = json!({
                "product_id": product,
                "qty": (sign * l.qty) as f64 / 1000.0,
                "price_unit": self.money(sign * l.unit_price),
                "discount": l.discount as f64 / 100.0,
                "price_subtotal": self.money(untaxed),
                "price_subtotal_incl": self.money(l.total),
                "full_product_name": l.display_name,
                "customer_note": l.note,
            });
            out.push(self.line(&l.id, fields, tax_ids));
        }
        let tip = order.totals.tip;
        if tip != 0 {
            match self.target.tip_product {
                Some(product) => {
                    let fields = json!({
                        "product_id": product,
                        "qty": 1.0,
                        "price_unit": self.money(tip),
                        "discount": 0.0,
                        "price_subtotal": self.money(tip),
                        "price_subtotal_incl": self.money(tip),
                        "full_product_name": "Tip",
                        "customer_note": "",
                    });
                    out.push(self.line("tip", fields, Vec::new()));
                }
                None => self.problems.push("the order has a tip and the sink has no `tip_product`".into()),
            }
        }
        (out, tax)
    }

    /// The payments, each with what was handed over (the server gives
    /// `amount_return` back as a negative cash payment).
    fn payments(&mut self) -> Vec<Value> {
        let order = self.order;
        let mut out = Vec::new();
        for (n, pay) in order.payments.iter().enumerate() {
            let method = self.id(IdKind::PaymentMethod, &pay.method, &format!("payment {}: ", n + 1));
            let handed = self.money(pay.amount + pay.change + pay.tip);
            let date = odoo_datetime(pay.by.at_ms);
            out.push(match self.target.api {
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
        out
    }
}

/// Maps one paid order. `order` is the order's JSON.
pub fn odoo_order(order: &Value, target: &OdooTarget, ids: &OdooIds) -> Result<OdooOrder, NotSendable> {
    let order = Order::deserialize(order).map_err(|e| NotSendable(vec![format!("unreadable order: {e}")]))?;
    let scale = 10f64.powi(i32::from(ids.decimals()));
    let mut m = Mapper { target, ids, order: &order, scale, problems: Vec::new() };
    if order.state != "paid" {
        m.problems.push(format!("order {} is {}: only paid orders go to Odoo", order.id, order.state));
    }
    let h = m.header();
    let (lines, tax_from_lines) = m.lines();
    let payments = m.payments();
    if !m.problems.is_empty() {
        return Err(NotSendable(m.problems));
    }

    let uuid = uuid_from(&order.id);
    let date = odoo_datetime(order.closed.as_ref().map_or(order.created.at_ms, |c| c.at_ms));
    let t = &order.totals;
    // The same for both shapes.
    let common = json!({
        "name": h.reference,
        "sequence_number": h.sequence,
        "user_id": h.user,
        "partner_id": h.partner,
        "fiscal_position_id": h.fiscal_position,
        "date_order": date,
        "amount_total": m.money(t.total + t.tip),
        "amount_paid": m.money(t.paid + t.tip),
        "amount_tax": m.money(t.tax.unwrap_or(tax_from_lines)),
        "amount_return": m.money(t.change),
        "lines": lines,
        "to_invoice": false,
        "is_tipped": t.tip != 0,
        "tip_amount": m.money(t.tip),
        "access_token": uuid,
    });
    let mut record = common;
    if let Some(table) = h.table {
        record["table_id"] = json!(table);
        record["customer_count"] = json!(order.guests);
    }
    let payload = match target.api {
        OdooApi::CreateFromUi => {
            record["uid"] = json!(h.uid);
            record["pos_session_id"] = json!(target.session_id);
            record["pricelist_id"] = json!(h.pricelist);
            // 13-16 read `creation_date`, 17 `date_order`.
            record["creation_date"] = json!(date);
            record["statement_ids"] = json!(payments);
            record["server_id"] = json!(false);
            json!({"id": h.uid, "data": record, "to_invoice": false})
        }
        OdooApi::SyncFromUi => {
            // Only fields pos.order has: 18 creates the record from the
            // dict as it is, and an unknown key is an error.
            record["uuid"] = json!(uuid);
            record["session_id"] = json!(target.session_id);
            record["state"] = json!("paid");
            record["payment_ids"] = json!(payments);
            if let Some(pl) = h.pricelist {
                record["pricelist_id"] = json!(pl);
            }
            if !order.note.is_empty() {
                record["general_note"] = json!(order.note);
            }
            record
        }
    };
    Ok(OdooOrder { reference: h.reference, uuid, payload })
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
