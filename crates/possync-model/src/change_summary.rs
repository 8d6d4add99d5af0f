//! What a set of changes did to an order, in POS terms: the possync
//! counterpart of the reference addon's `apply_ms_data` callback. Change events
//! carry it so an integrator can react to exactly the fields that moved.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{Automerge, ChangeHash, PatchAction, Prop};
use serde::{Deserialize, Serialize};

use crate::author::Author;
use crate::ids::{LineId, OrderId, PaymentId};
use crate::order_doc::change_author;
use crate::schema::*;

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
    /// Summarises the difference between two versions of `doc`.
    pub fn between(doc: &Automerge, order: &OrderId, before: &[ChangeHash], after: &[ChangeHash]) -> Self {
        let mut s =
            ChangeSummary { order: Some(order.clone()), created: before.is_empty(), ..Default::default() };
        for patch in doc.diff(before, after) {
            let mut path: Vec<String> = patch
                .path
                .iter()
                .map(|(_, prop)| match prop {
                    Prop::Map(k) => k.clone(),
                    Prop::Seq(i) => i.to_string(),
                })
                .collect();
            match &patch.action {
                PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => path.push(key.clone()),
                PatchAction::Increment { prop: Prop::Map(k), .. } => path.push(k.clone()),
                _ => {}
            }
            s.classify(&path);
        }
        for change in doc.get_changes(before) {
            if let Some(author) = change_author(&change) {
                s.authors.insert(author);
            }
        }
        s
    }

    fn classify(&mut self, path: &[String]) {
        match path {
            [] => {}
            [lines, line] if lines == K_LINES => {
                if let Ok(id) = LineId::parse(line) {
                    self.lines_added.insert(id);
                }
            }
            [lines, line, field, rest @ ..] if lines == K_LINES => {
                let Ok(id) = LineId::parse(line) else { return };
                if self.lines_added.contains(&id) {
                    return;
                }
                let field = match (field.as_str(), rest.first()) {
                    (K_EXT, Some(key)) => format!("{K_EXT}/{key}"),
                    _ => field.clone(),
                };
                self.lines_changed.entry(id).or_default().insert(field);
            }
            [payments, payment, ..] if payments == K_PAYMENTS => {
                if let Ok(id) = PaymentId::parse(payment) {
                    self.payments_added.insert(id);
                }
            }
            [ext, key, ..] if ext == K_EXT => {
                self.ext.insert(key.clone());
            }
            [closed, ..] if closed == K_CLOSED => {
                self.fields.insert(K_STATE.to_owned());
            }
            [field, ..] => {
                self.fields.insert(field.clone());
            }
        }
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
