//! Manager-only actions: overriding a line's price, giving money back
//! (refunds and refund orders) and resolving a review.
//!
//! Checked twice, so that neither a cashier at the till nor a peer that
//! skips the check (an older release, another implementation) can make one:
//! - a local edit is refused when its [`EditContext`] says the user is a
//!   cashier ([`check_edit`]);
//! - changes from peers are refused when one of them makes a manager-only
//!   action and its author is not a manager in this terminal's user list
//!   ([`check_changes`]). The action is told from where the change's
//!   operations write: a `unit_price` on a line the change did not create;
//!   `refund_of` on the order (a refund order) or on a payment; `reason` on a
//!   payment (a refund) or a closing; `resolved` or `accepted_paid` on a
//!   closing (a review resolution). The same keys elsewhere (an extension
//!   field named `reason`) are not actions.
//!
//! A user's identity is what its terminal declares (DESIGN "Security
//! model": terminals of a session trust each other's keys); these checks
//! keep honest terminals and their users in line, not a hostile peer.

use std::collections::HashMap;

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{Automerge, Change, ObjId, Prop, ReadDoc};
use possync_catalogue::{Catalogue, Role};

use crate::author::EditContext;
use crate::edit::Edit;
use crate::error::{EditError, RemoteError};
use crate::order_doc::change_author;
use crate::schema::{
    K_ACCEPTED_PAID, K_CLOSED, K_LINES, K_PAYMENTS, K_REASON, K_REFUND_OF, K_RESOLVED, K_UNIT_PRICE,
    MAX_EXT_DEPTH,
};

/// Edits only a manager may make.
pub fn requires_manager(edit: &Edit) -> bool {
    matches!(edit, Edit::SetUnitPrice { .. } | Edit::Refund(_) | Edit::ResolveReview { .. })
}

/// Refuses a manager-only edit by a cashier. A context without a role
/// (no user list configured) may do everything.
pub(crate) fn check_edit(ctx: &EditContext, edit: &Edit) -> Result<(), EditError> {
    if ctx.role == Some(Role::Cashier) && requires_manager(edit) {
        return Err(EditError::ManagerOnly { action: edit.kind() });
    }
    Ok(())
}

/// Who may make manager-only changes, from the terminal's catalogue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Roles {
    /// No user list: every user may do everything (a floor without a
    /// catalogue, or one whose catalogue lists no users).
    #[default]
    Anyone,
    /// The users the catalogue lists, by id, with their role.
    Listed(HashMap<String, Role>),
}

impl Roles {
    pub fn from_catalogue(catalogue: &Catalogue) -> Self {
        if catalogue.users.is_empty() {
            return Roles::Anyone;
        }
        Roles::Listed(catalogue.users.iter().map(|u| (u.id.as_str().to_owned(), u.role)).collect())
    }

    /// The role of `user`, `None` for a user the list does not hold.
    pub fn role(&self, user: &str) -> Option<Role> {
        match self {
            Roles::Anyone => Some(Role::Manager),
            Roles::Listed(users) => users.get(user).copied(),
        }
    }

    pub fn is_manager(&self, user: &str) -> bool {
        self.role(user) == Some(Role::Manager)
    }
}

/// The manager-only action a change makes, if any (see the module docs).
/// `doc` holds the change (objects are placed through it).
pub fn manager_action(doc: &Automerge, change: &Change) -> Option<&'static str> {
    let expanded = change.decode();
    let start = expanded.start_op.get();
    // Objects this change creates: a price written inside one is the
    // line's first price, not an override.
    let created: Vec<OpId> = expanded
        .operations
        .iter()
        .enumerate()
        .filter(|(_, op)| matches!(op.action, OpType::Make(_)))
        .map(|(i, _)| OpId(start + i as u64, expanded.actor_id.clone()))
        .collect();
    for op in &expanded.operations {
        let Key::Map(key) = &op.key else { continue };
        let key = key.as_str();
        if ![K_UNIT_PRICE, K_REFUND_OF, K_REASON, K_RESOLVED, K_ACCEPTED_PAID].contains(&key) {
            continue;
        }
        let place = match &op.obj {
            ObjectId::Root => Place::Root,
            ObjectId::Id(id) => place_of(doc, id),
        };
        let action = match (key, place) {
            (K_UNIT_PRICE, Place::Line) => {
                let new_line = matches!(&op.obj, ObjectId::Id(id) if created.contains(id));
                (!new_line).then_some("set_unit_price")
            }
            (K_REFUND_OF, Place::Root | Place::Payment) | (K_REASON, Place::Payment) => Some("refund"),
            (K_REASON | K_RESOLVED | K_ACCEPTED_PAID, Place::Closing) => Some("resolve_review"),
            _ => None,
        };
        if action.is_some() {
            return action;
        }
    }
    None
}

/// Where an object sits, as far as the manager-only actions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Root,
    /// A line's own map (`lines/<id>`), not an object inside it.
    Line,
    /// A payment's own map (`payments/<id>`).
    Payment,
    /// Inside the closing record (`closed/...`).
    Closing,
    Elsewhere,
}

fn place_of(doc: &Automerge, op: &OpId) -> Place {
    let id = ObjId::Id(op.0, op.1.clone(), 0);
    let Ok(parents) = doc.parents(&id) else { return Place::Elsewhere };
    // Bounded, as in `touched.rs`: a crafted chain of parents may not end.
    let mut path: Vec<Prop> = Vec::new();
    for parent in parents {
        if path.len() > MAX_EXT_DEPTH + 4 {
            return Place::Elsewhere;
        }
        path.push(parent.prop);
    }
    path.reverse();
    let keys: Vec<Option<&str>> = path
        .iter()
        .map(|p| match p {
            Prop::Map(k) => Some(k.as_str()),
            Prop::Seq(_) => None,
        })
        .collect();
    match keys.as_slice() {
        [Some(K_LINES), Some(_)] => Place::Line,
        [Some(K_PAYMENTS), Some(_)] => Place::Payment,
        [Some(K_CLOSED), ..] => Place::Closing,
        _ => Place::Elsewhere,
    }
}

/// Refuses the batch when one of its changes makes a manager-only action
/// and its author is not a manager in `roles`.
pub fn check_changes<'a>(
    doc: &Automerge,
    changes: impl IntoIterator<Item = &'a Change>,
    roles: &Roles,
) -> Result<(), RemoteError> {
    if *roles == Roles::Anyone {
        return Ok(());
    }
    for change in changes {
        let Some(action) = manager_action(doc, change) else { continue };
        let user = change_author(change).map(|a| a.user).unwrap_or_default();
        if !roles.is_manager(&user) {
            return Err(RemoteError::ManagerOnly { hash: change.hash(), user, action });
        }
    }
    Ok(())
}
