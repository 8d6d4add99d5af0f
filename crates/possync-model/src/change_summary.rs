//! What a set of changes did to an order, in POS terms: the possync
//! counterpart of the reference addon's `apply_ms_data` callback. Change events
//! carry it so an integrator can react to exactly the fields that moved.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::author::Author;
use crate::ids::{LineId, OrderId, PaymentId};
use crate::schema::*;
use crate::view::OrderView;

/// The fields, lines and payments that a batch of changes touched.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct ChangeSummary {
    pub order: Option<OrderId>,
    /// The order was created by these changes.
    pub created: bool,
    /// Order fields that changed (`table`, `customer`, `state`, ...).
    pub fields: BTreeSet<String>,
    /// Order extension keys that changed.
    pub ext: BTreeSet<String>,
    pub lines_added: BTreeSet<LineId>,
    /// Changed lines and, for each, the fields that changed (`qty`,
    /// `ext/<key>`, ...).
    pub lines_changed: BTreeMap<LineId, BTreeSet<String>>,
    pub payments_added: BTreeSet<PaymentId>,
    /// Who made the changes, from their commit messages.
    pub authors: BTreeSet<Author>,
}

impl ChangeSummary {
    /// What differs between two views of one order (`old` is `None` for an
    /// order seen for the first time). Comparing views is much cheaper than
    /// diffing the Automerge document, and names things in POS terms.
    pub fn compare(order: &OrderId, old: Option<&OrderView>, new: &OrderView) -> Self {
        let mut s =
            ChangeSummary { order: Some(order.clone()), created: old.is_none(), ..Default::default() };
        let Some(old) = old else {
            s.lines_added = new.lines.iter().map(|l| l.id.clone()).collect();
            s.payments_added = new.payments.iter().map(|p| p.id.clone()).collect();
            s.ext = new.ext.keys().cloned().collect();
            return s;
        };
        let fields: [(&str, bool); 11] = [
            (K_NAME, old.name != new.name),
            (K_STATE, old.state != new.state || old.review != new.review),
            (K_CUSTOMER, old.customer != new.customer),
            (K_PRICELIST, old.pricelist != new.pricelist),
            (K_FISCAL_POSITION, old.fiscal_position != new.fiscal_position),
            (K_TABLE, old.table != new.table),
            (K_FLOOR, old.floor != new.floor),
            (K_GUESTS, old.guests != new.guests),
            (K_NOTE, old.note != new.note),
            (K_CHANGED, old.changed != new.changed),
            ("conflicts", old.conflicts != new.conflicts),
        ];
        s.fields = fields.iter().filter(|(_, differs)| *differs).map(|(k, _)| (*k).to_owned()).collect();
        s.ext = changed_keys(&old.ext, &new.ext);
        for line in &new.lines {
            match old.line(&line.id) {
                None => {
                    s.lines_added.insert(line.id.clone());
                }
                Some(before) => {
                    let mut changed = BTreeSet::new();
                    let pairs: [(&str, bool); 8] = [
                        (K_PRODUCT, before.product != line.product),
                        (K_DISPLAY_NAME, before.display_name != line.display_name),
                        (K_QTY, before.qty != line.qty),
                        (K_UNIT_PRICE, before.unit_price != line.unit_price),
                        (K_DISCOUNT, before.discount != line.discount),
                        (K_NOTE, before.note != line.note),
                        (K_KITCHEN_QTY, before.kitchen_qty != line.kitchen_qty),
                        (K_CHANGED, before.changed != line.changed),
                    ];
                    changed.extend(pairs.iter().filter(|(_, d)| *d).map(|(k, _)| (*k).to_owned()));
                    changed.extend(
                        changed_keys(&before.ext, &line.ext).into_iter().map(|k| format!("{K_EXT}/{k}")),
                    );
                    if !changed.is_empty() {
                        s.lines_changed.insert(line.id.clone(), changed);
                    }
                }
            }
        }
        s.payments_added = new
            .payments
            .iter()
            .filter(|p| !old.payments.iter().any(|q| q.id == p.id))
            .map(|p| p.id.clone())
            .collect();
        s
    }

    /// True when nothing visible changed.
    pub fn is_empty(&self) -> bool {
        !self.created
            && self.fields.is_empty()
            && self.ext.is_empty()
            && self.lines_added.is_empty()
            && self.lines_changed.is_empty()
            && self.payments_added.is_empty()
    }
}

fn changed_keys(old: &Map<String, Json>, new: &Map<String, Json>) -> BTreeSet<String> {
    new.iter()
        .filter(|(k, v)| old.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .chain(old.keys().filter(|k| !new.contains_key(*k)).cloned())
        .collect()
}
