//! Typed, validated read views of an order document, with derived totals,
//! conflicts and review flags. Reading a view is also how a document is
//! validated: a document that reads is a document that follows the schema.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use automerge::{ObjType, ROOT, ReadDoc, Value};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

use crate::author::Stamp;
use crate::conflict::{Conflict, ReviewFlag};
use crate::delivery::{self, SinkDelivery, SinkName};
use crate::error::SchemaError;
use crate::ids::{LineId, OrderId, OrderName, PaymentId};
use crate::pricing::{self, LineAmounts};
use crate::read::MapReader;
use crate::schema::*;
use crate::touched::Touched;
use possync_catalogue::{LineTaxes, PricingRules, Tax, TaxTotal};
use possync_money::{Discount, Money, Quantity};

/// An order as every terminal shows it.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct OrderView {
    pub id: OrderId,
    pub name: OrderName,
    /// How many changes this copy of the order holds. A document only grows,
    /// so of two views of one order read from one terminal the one with the
    /// higher revision is the newer, and equal revisions hold the same
    /// changes: how a front end tells whether an answer it got is older
    /// than what its change feed already showed.
    #[serde(default)]
    pub revision: u64,
    pub schema: i64,
    pub state: OrderState,
    pub created: Stamp,
    pub changed: Stamp,
    pub customer: Option<String>,
    pub pricelist: Option<String>,
    pub fiscal_position: Option<String>,
    pub table: Option<String>,
    pub floor: Option<String>,
    pub guests: u32,
    pub note: String,
    /// The order this one was split from, if any.
    pub split_from: Option<OrderId>,
    /// On a refund order: the paid order it gives money back for.
    #[serde(default)]
    pub refund_of: Option<OrderId>,
    /// The name this order was opened with, when its terminal renamed it
    /// because another order of the floor already had that name (a
    /// terminal restored from a backup, ORDER_MODEL "Names").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<OrderName>,
    /// Every line, removed ones (quantity 0) included, in creation order.
    /// The rounding rules the order was opened with, from the catalogue;
    /// `None` for an order without taxes.
    #[serde(default)]
    pub pricing: Option<PricingRules>,
    pub lines: Vec<LineView>,
    pub payments: Vec<PaymentView>,
    pub ext: Map<String, Json>,
    pub totals: Totals,
    pub conflicts: Vec<Conflict>,
    pub review: Vec<ReviewFlag>,
    /// Who closed the order and when: the closing that decided its state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<Stamp>,
    /// How far the order got to each back office (see `delivery.rs`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub delivery: BTreeMap<SinkName, SinkDelivery>,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct LineView {
    pub id: LineId,
    pub product: String,
    pub display_name: String,
    /// Never below zero: a removal concurrent with a decrement clamps here.
    pub qty: Quantity,
    pub unit_price: Money,
    pub discount: Discount,
    pub note: String,
    /// How much of this line the kitchen has been sent.
    pub kitchen_qty: Quantity,
    pub created: Stamp,
    pub changed: Stamp,
    pub ext: Map<String, Json>,
    /// Copies of the taxes the line was added with (empty without a
    /// catalogue). Shared: they never change, and views are cloned at every
    /// edit.
    #[serde(default)]
    pub taxes: Arc<[Tax]>,
    /// Before taxes (Odoo's `price_subtotal`).
    #[serde(default)]
    pub untaxed: Money,
    #[serde(default)]
    pub tax: Money,
    /// What the customer pays for the line, taxes included (Odoo's
    /// `price_subtotal_incl`).
    pub total: Money,
    /// The exact per-tax amounts the order's totals sum (priced orders).
    #[serde(skip)]
    pub(crate) detail: Option<Arc<LineTaxes>>,
}

impl LineView {
    pub fn is_removed(&self) -> bool {
        self.qty == Quantity::ZERO
    }

    /// Quantity added since the last kitchen ticket.
    pub fn kitchen_pending(&self) -> Quantity {
        Quantity((self.qty.0 - self.kitchen_qty.0).max(0))
    }

    pub fn ext_as<E: DeserializeOwned>(&self) -> Result<E, serde_json::Error> {
        serde_json::from_value(Json::Object(self.ext.clone()))
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PaymentView {
    pub id: PaymentId,
    pub method: String,
    /// What this payment counts against the bill: change and tip left out;
    /// negative for a refund.
    pub amount: Money,
    pub by: Stamp,
    /// Handed over at the till (a `Pay`); absent on a plain payment.
    #[serde(default)]
    pub tendered: Option<Money>,
    /// Given back in cash out of `tendered`.
    #[serde(default)]
    pub change: Money,
    #[serde(default)]
    pub tip: Money,
    /// Why money was given back (a refund).
    #[serde(default)]
    pub reason: Option<String>,
    /// The payment a refund gives back, when it names one.
    #[serde(default)]
    pub refund_of: Option<PaymentId>,
}

impl PaymentView {
    pub fn is_refund(&self) -> bool {
        self.amount.0 < 0
    }
}

/// Derived from lines and payments on every read; never stored.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Before taxes.
    #[serde(default)]
    pub untaxed: Money,
    /// All taxes.
    #[serde(default)]
    pub tax: Money,
    /// One row per tax, ordered by sequence then id.
    #[serde(default)]
    pub taxes: Vec<TaxTotal>,
    /// What the order costs, taxes included: what payments must cover.
    pub total: Money,
    /// Payments against the bill, refunds taken off.
    pub paid: Money,
    /// `total - paid`; negative when money is owed back to the customer.
    pub due: Money,
    /// Change handed back out of cash tendered (already left out of `paid`).
    #[serde(default)]
    pub change: Money,
    /// Tips, on top of the bill.
    #[serde(default)]
    pub tip: Money,
}

impl OrderView {
    pub fn line(&self, id: &LineId) -> Option<&LineView> {
        self.lines.iter().find(|l| &l.id == id)
    }

    /// Lines with a quantity above zero.
    pub fn active_lines(&self) -> impl Iterator<Item = &LineView> {
        self.lines.iter().filter(|l| !l.is_removed())
    }

    /// Open, or closed but flagged: either way it belongs on the open list.
    pub fn is_active(&self) -> bool {
        self.state == OrderState::Open || !self.review.is_empty()
    }

    pub fn ext_as<E: DeserializeOwned>(&self) -> Result<E, serde_json::Error> {
        serde_json::from_value(Json::Object(self.ext.clone()))
    }

    /// Reads and validates a whole order document. `expected` guards against a
    /// document carrying another order's id.
    pub fn read<D: ReadDoc>(doc: &D, expected: &OrderId) -> Result<OrderView, SchemaError> {
        Self::read_reusing(doc, expected, None)
    }

    /// Reads and validates the order after changes that wrote to `touched`,
    /// given its view before them: the order's fields and lines the changes
    /// did not write to are taken from `before` (they were validated then and
    /// have not changed), everything else is read. Equal to
    /// [`OrderView::read`], faster.
    pub(crate) fn read_after<D: ReadDoc>(
        doc: &D,
        expected: &OrderId,
        before: &OrderView,
        touched: &Touched,
    ) -> Result<OrderView, SchemaError> {
        match touched {
            Touched::Everything => Self::read(doc, expected),
            Touched::Parts { fields, lines } => {
                let reuse = Reuse { before, touched: lines };
                // Most edits write a line and the order's `changed` stamp,
                // nothing else of the order's own.
                if fields.iter().all(|f| f == K_CHANGED) {
                    Self::read_lines_after(doc, reuse, !fields.is_empty())
                } else {
                    Self::read_reusing(doc, expected, Some(reuse))
                }
            }
        }
    }

    /// [`OrderView::read_after`] when changes wrote no field of the order
    /// but `changed` (if `changed_written`): the other fields, the payments
    /// and the conflicts among fields are those of the view before.
    fn read_lines_after<D: ReadDoc>(
        doc: &D,
        reuse: Reuse<'_>,
        changed_written: bool,
    ) -> Result<OrderView, SchemaError> {
        let before = reuse.before;
        let changed =
            if changed_written { root_map(doc, K_CHANGED)?.stamp_fields()? } else { before.changed.clone() };
        // The order's own conflicts come first in a view, then the lines'.
        let mut conflicts: Vec<Conflict> =
            before.conflicts.iter().filter(|c| !is_line_path(&c.path)).cloned().collect();
        let pricing = before.pricing;
        let lines = read_lines(&root_map(doc, K_LINES)?, pricing.as_ref(), &mut conflicts, Some(reuse))?;
        let closings = read_closings(doc)?;
        let (totals, state, review) = derived(pricing.as_ref(), &lines, &before.payments, &closings)?;
        Ok(OrderView {
            id: before.id.clone(),
            name: before.name.clone(),
            revision: doc.stats().num_changes,
            schema: before.schema,
            state,
            created: before.created.clone(),
            changed,
            customer: before.customer.clone(),
            pricelist: before.pricelist.clone(),
            fiscal_position: before.fiscal_position.clone(),
            table: before.table.clone(),
            floor: before.floor.clone(),
            guests: before.guests,
            note: before.note.clone(),
            split_from: before.split_from.clone(),
            refund_of: before.refund_of.clone(),
            renamed_from: before.renamed_from.clone(),
            pricing,
            lines,
            payments: before.payments.clone(),
            ext: before.ext.clone(),
            totals,
            conflicts,
            review,
            closed: closed_by(&closings, state),
            delivery: before.delivery.clone(),
        })
    }

    fn read_reusing<D: ReadDoc>(
        doc: &D,
        expected: &OrderId,
        reuse: Option<Reuse<'_>>,
    ) -> Result<OrderView, SchemaError> {
        let root = MapReader::new(doc, ROOT, "");
        let id = root.str(K_ID)?;
        if id != expected.as_str() {
            return Err(SchemaError::WrongOrder { expected: expected.clone(), found: id });
        }
        // Another order's creating change merged into this document leaves a
        // second, concurrent `id` that may lose the register: check them all.
        if let Ok(all) = doc.get_all(ROOT, K_ID) {
            for (value, obj) in all {
                match crate::ext::read_value(doc, &value, &obj) {
                    Json::String(s) if s == expected.as_str() => {}
                    other => {
                        let found = other.as_str().map_or_else(|| other.to_string(), str::to_owned);
                        return Err(SchemaError::WrongOrder { expected: expected.clone(), found });
                    }
                }
            }
        }
        let schema = root.int(K_SCHEMA, 1..=i64::from(u16::MAX))?;
        let name = OrderName::from_stored(root.str(K_NAME)?);
        let created = root.stamp(K_CREATED)?;
        let changed = root.stamp(K_CHANGED)?;
        let guests = root.int(K_GUESTS, 0..=MAX_GUESTS)? as u32;
        let split_from =
            match root.opt_str(K_SPLIT_FROM)? {
                None => None,
                Some(s) => Some(OrderId::parse(&s).map_err(|e| SchemaError::OutOfRange {
                    path: K_SPLIT_FROM.into(),
                    detail: e.to_string(),
                })?),
            };

        let mut conflicts = order_conflicts(&root);
        let pricing = pricing::read_rules(&root)?;
        let lines = read_lines(&root.map(K_LINES)?, pricing.as_ref(), &mut conflicts, reuse)?;
        let payments = read_payments(&root)?;
        let closings = read_closings(doc)?;
        let (totals, state, review) = derived(pricing.as_ref(), &lines, &payments, &closings)?;
        let refund_of =
            match root.opt_str(K_REFUND_OF)? {
                None => None,
                Some(s) => Some(OrderId::parse(&s).map_err(|e| SchemaError::OutOfRange {
                    path: K_REFUND_OF.into(),
                    detail: e.to_string(),
                })?),
            };

        Ok(OrderView {
            id: expected.clone(),
            name,
            revision: doc.stats().num_changes,
            schema,
            state,
            created,
            changed,
            customer: root.opt_str(K_CUSTOMER)?,
            pricelist: root.opt_str(K_PRICELIST)?,
            fiscal_position: root.opt_str(K_FISCAL_POSITION)?,
            table: root.opt_str(K_TABLE)?,
            floor: root.opt_str(K_FLOOR)?,
            guests,
            note: root.opt_str(K_NOTE)?.unwrap_or_default(),
            split_from,
            refund_of,
            renamed_from: root.opt_str(K_RENAMED_FROM)?.map(OrderName::from_stored),
            pricing,
            lines,
            payments,
            ext: root.json_map(K_EXT)?,
            totals,
            conflicts,
            review,
            closed: closed_by(&closings, state),
            delivery: delivery::read(doc)?,
        })
    }

    /// The digest of the order's lines and payments: what a closing and a
    /// back office's confirmation record, to tell whether the order changed
    /// since.
    pub fn content_digest(&self) -> String {
        content_digest(&self.lines, &self.payments)
    }
}

/// The stamp of the closing that decided `state` (closings are sorted).
fn closed_by(closings: &[Closing], state: OrderState) -> Option<Stamp> {
    closings.iter().find(|c| c.state == state).map(|c| c.by.clone())
}

/// The view before some changes, and the lines they wrote to.
struct Reuse<'a> {
    before: &'a OrderView,
    touched: &'a BTreeSet<String>,
}

/// [`Reuse`], indexed for a pass over the lines.
struct ReuseIndex<'a> {
    touched: &'a BTreeSet<String>,
    lines: HashMap<&'a str, &'a LineView>,
    conflicts: &'a [Conflict],
}

impl<'a> ReuseIndex<'a> {
    fn new(reuse: &Reuse<'a>) -> Self {
        let lines = reuse.before.lines.iter().map(|l| (l.id.as_str(), l)).collect();
        ReuseIndex { touched: reuse.touched, lines, conflicts: &reuse.before.conflicts }
    }

    /// The line as it was, with its conflicts, when the changes left it alone.
    fn untouched(&self, key: &str) -> Option<(&'a LineView, impl Iterator<Item = &'a Conflict>)> {
        if self.touched.contains(key) {
            return None;
        }
        let line = *self.lines.get(key)?;
        // `lines/<key>` itself or a path below it, without building the prefix.
        let conflicts = self.conflicts.iter().filter(move |c| {
            c.path
                .strip_prefix(K_LINES)
                .and_then(|rest| rest.strip_prefix('/'))
                .and_then(|rest| rest.strip_prefix(key))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        Some((line, conflicts))
    }
}

/// The order's totals, state and review flags, which follow from its lines,
/// payments and closings.
fn derived(
    rules: Option<&PricingRules>,
    lines: &[LineView],
    payments: &[PaymentView],
    closings: &[Closing],
) -> Result<(Totals, OrderState, Vec<ReviewFlag>), SchemaError> {
    let amounts = pricing::order_amounts(rules, lines.iter().map(|l| (l.total, l.detail.as_deref())))
        .map_err(|_| overflow("totals"))?;
    let total = amounts.total;
    let paid = Money(payments.iter().map(|p| p.amount.0).fold(0i64, i64::saturating_add));
    let change = Money(payments.iter().map(|p| p.change.0).fold(0i64, i64::saturating_add));
    let tip = Money(payments.iter().map(|p| p.tip.0).fold(0i64, i64::saturating_add));
    let totals = Totals {
        untaxed: amounts.untaxed,
        tax: amounts.tax,
        taxes: amounts.taxes,
        total,
        paid,
        due: Money(total.0.saturating_sub(paid.0)),
        change,
        tip,
    };
    let state = if closings.iter().any(|c| c.state == OrderState::Paid) {
        OrderState::Paid
    } else if closings.is_empty() {
        OrderState::Open
    } else {
        OrderState::Cancelled
    };
    // The digest is only compared with a closing's (and an acceptance's).
    let review = if closings.is_empty() && totals.paid <= totals.total {
        Vec::new()
    } else {
        review_flags(state, closings, &totals, &content_digest(lines, payments))
    };
    Ok((totals, state, review))
}

fn overflow(path: &str) -> SchemaError {
    SchemaError::OutOfRange { path: path.into(), detail: "amounts overflow".into() }
}

/// The map at one of the order's root keys, read alone (without reading the
/// root map whole).
fn root_map<'d, D: ReadDoc>(doc: &'d D, key: &str) -> Result<MapReader<'d, D>, SchemaError> {
    match doc.get(ROOT, key) {
        Ok(Some((Value::Object(ObjType::Map), id))) => Ok(MapReader::new(doc, id, key)),
        Ok(Some((other, _))) => Err(SchemaError::WrongType {
            path: key.into(),
            expected: "a map",
            found: crate::read::describe(&other),
        }),
        Ok(None) => Err(SchemaError::Missing { path: key.into() }),
        Err(e) => Err(SchemaError::WrongType { path: key.into(), expected: "a map", found: e.to_string() }),
    }
}

/// Whether a conflict's path is a line's (`lines/<key>` or below).
fn is_line_path(path: &str) -> bool {
    path.strip_prefix(K_LINES).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Reads every line of the lines map (or, with `reuse`, the lines that
/// changed), and the conflicts among its fields into `conflicts` (the same
/// pass over the document serves both).
fn read_lines<D: ReadDoc>(
    lines_map: &MapReader<'_, D>,
    rules: Option<&PricingRules>,
    conflicts: &mut Vec<Conflict>,
    reuse: Option<Reuse<'_>>,
) -> Result<Vec<LineView>, SchemaError> {
    let count = lines_map.len();
    if count > MAX_LINES {
        return Err(SchemaError::TooMany { what: "lines", count, limit: MAX_LINES });
    }
    let mut lines = Vec::with_capacity(count);
    let reuse = reuse.as_ref().map(ReuseIndex::new);
    for key in lines_map.keys() {
        if let Some((line, line_conflicts)) = reuse.as_ref().and_then(|r| r.untouched(key)) {
            lines.push(line.clone());
            conflicts.extend(line_conflicts.cloned());
            continue;
        }
        let line = lines_map.map(key)?;
        let id = LineId::parse(key)
            .map_err(|_| SchemaError::LineKeyMismatch { key: key.to_owned(), found: key.to_owned() })?;
        let stored_id = line.str(K_ID)?;
        if stored_id != key {
            return Err(SchemaError::LineKeyMismatch { key: key.to_owned(), found: stored_id });
        }
        let qty = line.counter(K_QTY)?;
        if qty > MAX_QTY_MILLI {
            return Err(SchemaError::OutOfRange {
                path: line.field_path(K_QTY),
                detail: format!("{qty} above {MAX_QTY_MILLI}"),
            });
        }
        let qty = Quantity(qty.max(0));
        let unit_price = Money(line.int(K_UNIT_PRICE, -MAX_AMOUNT..=MAX_AMOUNT)?);
        let discount = Discount(line.int(K_DISCOUNT, 0..=10_000)? as u16);
        // Two terminals sending to the kitchen at once both record what they
        // sent; the larger wins, as the kitchen has seen that much.
        let kitchen = line.all_ints(K_KITCHEN_QTY, 0..=MAX_QTY_MILLI)?;
        let kitchen_qty = Quantity(kitchen.into_iter().max().unwrap_or(0));
        push_conflicts(lines_map, key, conflicts);
        push_conflicts_in(&line, &LINE_REGISTERS, conflicts);
        let ext = line.opt_map(K_EXT)?;
        if let Some(ext) = &ext {
            let keys: Vec<&str> = ext.keys().collect();
            push_conflicts_in(ext, &keys, conflicts);
        }
        let before_taxes = reuse.as_ref().and_then(|r| r.lines.get(key)).map(|l| &l.taxes);
        let taxes = pricing::read_taxes(&line, before_taxes)?;
        if rules.is_none() && !taxes.is_empty() {
            return Err(SchemaError::OutOfRange {
                path: line.field_path(K_TAXES),
                detail: "taxes on a line of an order opened without pricing".into(),
            });
        }
        let LineAmounts { untaxed, tax, total, detail } =
            pricing::line_amounts(rules, &taxes, unit_price, qty, discount)
                .map_err(|_| overflow(&line.field_path(K_UNIT_PRICE)))?;
        lines.push(LineView {
            product: line.str(K_PRODUCT)?,
            display_name: line.str(K_DISPLAY_NAME)?,
            note: line.opt_str(K_NOTE)?.unwrap_or_default(),
            created: line.stamp(K_CREATED)?,
            changed: line.stamp(K_CHANGED)?,
            ext: ext.as_ref().map(MapReader::to_json).unwrap_or_default(),
            taxes,
            untaxed,
            tax,
            total,
            detail,
            id,
            qty,
            unit_price,
            discount,
            kitchen_qty,
        });
    }
    lines.sort_by(|a, b| (a.created.at_ms, &a.id).cmp(&(b.created.at_ms, &b.id)));
    Ok(lines)
}

fn read_payments<D: ReadDoc>(root: &MapReader<'_, D>) -> Result<Vec<PaymentView>, SchemaError> {
    let payments_map = root.map(K_PAYMENTS)?;
    let count = payments_map.len();
    if count > MAX_PAYMENTS {
        return Err(SchemaError::TooMany { what: "payments", count, limit: MAX_PAYMENTS });
    }
    let mut payments = Vec::with_capacity(count);
    for key in payments_map.keys() {
        let p = payments_map.map(key)?;
        let id = PaymentId::parse(key)
            .map_err(|e| SchemaError::OutOfRange { path: p.path.clone(), detail: e.to_string() })?;
        let opt_amount = |key: &str| -> Result<Option<Money>, SchemaError> {
            match p.has(key) {
                true => Ok(Some(Money(p.int(key, -MAX_AMOUNT..=MAX_AMOUNT)?))),
                false => Ok(None),
            }
        };
        let refund_of = match p.opt_str(K_REFUND_OF)? {
            None => None,
            Some(s) => Some(PaymentId::parse(&s).map_err(|e| SchemaError::OutOfRange {
                path: p.field_path(K_REFUND_OF),
                detail: e.to_string(),
            })?),
        };
        payments.push(PaymentView {
            id,
            method: p.str(K_METHOD)?,
            amount: Money(p.int(K_AMOUNT, -MAX_AMOUNT..=MAX_AMOUNT)?),
            by: p.stamp(K_BY)?,
            tendered: opt_amount(K_TENDERED)?,
            change: opt_amount(K_CHANGE)?.unwrap_or_default(),
            tip: opt_amount(K_TIP)?.unwrap_or_default(),
            reason: p.opt_str(K_REASON)?,
            refund_of,
        });
    }
    payments.sort_by(|a, b| (a.by.at_ms, &a.id).cmp(&(b.by.at_ms, &b.id)));
    Ok(payments)
}

/// One closing of the order, as recorded by the terminal that closed it.
#[derive(Clone, Debug)]
pub(crate) struct Closing {
    pub state: OrderState,
    pub digest: String,
    pub total: i64,
    pub by: Stamp,
    /// A manager accepted payments of this sum above the total.
    pub accepted_paid: Option<i64>,
}

/// Every concurrent value of `closed`: more than one means the order was
/// closed on two terminals at once.
fn read_closings<D: ReadDoc>(doc: &D) -> Result<Vec<Closing>, SchemaError> {
    let all = doc.get_all(ROOT, K_CLOSED).map_err(|e| SchemaError::WrongType {
        path: K_CLOSED.into(),
        expected: "a map",
        found: e.to_string(),
    })?;
    let mut closings = Vec::with_capacity(all.len());
    for (value, obj) in all {
        match value {
            Value::Object(ObjType::Map) => {}
            Value::Scalar(s) if s.is_null() => continue,
            other => {
                return Err(SchemaError::WrongType {
                    path: K_CLOSED.into(),
                    expected: "a map",
                    found: format!("{other:?}"),
                });
            }
        }
        let m = MapReader::new(doc, obj, K_CLOSED);
        let state_str = m.str(K_STATE)?;
        let state = OrderState::parse_closed(&state_str).ok_or_else(|| SchemaError::OutOfRange {
            path: m.field_path(K_STATE),
            detail: format!("unknown state {state_str:?}"),
        })?;
        closings.push(Closing {
            state,
            digest: m.str(K_DIGEST)?,
            total: m.int(K_TOTAL, i64::MIN..=i64::MAX)?,
            by: m.stamp(K_BY)?,
            accepted_paid: match m.has(K_ACCEPTED_PAID) {
                true => Some(m.int(K_ACCEPTED_PAID, i64::MIN..=i64::MAX)?),
                false => None,
            },
        });
    }
    closings.sort_by(|a, b| (&a.by, a.state).cmp(&(&b.by, b.state)));
    Ok(closings)
}

fn review_flags(state: OrderState, closings: &[Closing], totals: &Totals, digest: &str) -> Vec<ReviewFlag> {
    let mut flags = Vec::new();
    match closings {
        [] => {}
        [only] => {
            if only.digest != digest {
                flags.push(ReviewFlag::EditedAfterClose {
                    state: only.state,
                    closed_total: only.total,
                    total: totals.total.0,
                });
            }
        }
        many => flags.push(ReviewFlag::ClosedConcurrently {
            closings: many.iter().map(|c| (c.state, c.by.clone())).collect(),
        }),
    }
    if state == OrderState::Paid && totals.paid < totals.total {
        flags.push(ReviewFlag::Underpaid { total: totals.total.0, paid: totals.paid.0 });
    }
    // Accepted only for the order exactly as the manager saw it: one closing,
    // same lines and payments.
    let accepted =
        matches!(closings, [only] if only.accepted_paid == Some(totals.paid.0) && only.digest == digest);
    if totals.paid > totals.total && !accepted {
        flags.push(ReviewFlag::Overpaid { total: totals.total.0, paid: totals.paid.0 });
    }
    flags
}

/// A digest of everything money depends on: each line's id, quantity, price
/// and discount, and each payment's id and amount, in id order. A closing
/// records it; a later mismatch means the order changed concurrently with its
/// closing. Hex of the first 16 bytes of SHA-256 over the text
/// `L <id> <qty> <price> <discount>\n` per line then `P <id> <amount>\n` per payment.
pub(crate) fn content_digest(lines: &[LineView], payments: &[PaymentView]) -> String {
    let mut by_id: Vec<&LineView> = lines.iter().collect();
    by_id.sort_by(|a, b| a.id.cmp(&b.id));
    let mut pays: Vec<&PaymentView> = payments.iter().collect();
    pays.sort_by(|a, b| a.id.cmp(&b.id));
    let mut h = Sha256::new();
    for l in by_id {
        h.update(format!("L {} {} {} {}\n", l.id, l.qty.0, l.unit_price.0, l.discount.0).as_bytes());
    }
    for p in pays {
        h.update(format!("P {} {}\n", p.id, p.amount.0).as_bytes());
    }
    let out = h.finalize();
    out[..16].iter().map(|b| format!("{b:02x}")).collect()
}

const ORDER_REGISTERS: [&str; 8] =
    [K_CUSTOMER, K_PRICELIST, K_FISCAL_POSITION, K_TABLE, K_FLOOR, K_GUESTS, K_NOTE, K_NAME];
const LINE_REGISTERS: [&str; 5] = [K_PRODUCT, K_DISPLAY_NAME, K_UNIT_PRICE, K_DISCOUNT, K_NOTE];

/// Conflicts among the order's own fields and extension keys.
fn order_conflicts<D: ReadDoc>(root: &MapReader<'_, D>) -> Vec<Conflict> {
    let mut out = Vec::new();
    push_conflicts_in(root, &ORDER_REGISTERS, &mut out);
    if let Ok(ext) = root.map(K_EXT) {
        let keys: Vec<&str> = ext.keys().collect();
        push_conflicts_in(&ext, &keys, &mut out);
    }
    out
}

fn push_conflicts_in<D: ReadDoc>(reader: &MapReader<'_, D>, keys: &[&str], out: &mut Vec<Conflict>) {
    for key in keys {
        push_conflicts(reader, key, out);
    }
}

fn push_conflicts<D: ReadDoc>(reader: &MapReader<'_, D>, key: &str, out: &mut Vec<Conflict>) {
    let values = reader.competing(key);
    if !values.is_empty() {
        out.push(Conflict { path: reader.field_path(key), values });
    }
}
