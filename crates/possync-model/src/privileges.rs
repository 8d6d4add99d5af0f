//! Manager-only actions: overriding a line's price, giving money back
//! (refunds and refund orders) and resolving a review.
//!
//! Checked twice, so that neither a cashier at the till nor a peer that
//! skips the check (an older release, another implementation) can make one:
//! - a local edit is refused when its [`EditContext`] says the user is a
//!   cashier ([`check_edit`]);
//! - changes from peers are refused when one of them makes a manager-only
//!   action and its author is not a manager in this terminal's user list
//!   ([`check_changes`]). The action is told from the change's operations
//!   alone: a `unit_price` written on a line the change did not create, or
//!   any `refund_of`, `reason`, `resolved` or `accepted_paid` (keys that
//!   only refunds and review resolutions write).
//!
//! A user's identity is what its terminal declares (DESIGN "Security
//! model": terminals of a session trust each other's keys); these checks
//! keep honest terminals and their users in line, not a hostile peer.

use std::collections::HashMap;

use automerge::Change;
use automerge::legacy::{Key, ObjectId, OpId, OpType};
use possync_catalogue::{Catalogue, Role};

use crate::author::EditContext;
use crate::edit::Edit;
use crate::error::{EditError, RemoteError};
use crate::order_doc::change_author;
use crate::schema::{K_ACCEPTED_PAID, K_REASON, K_REFUND_OF, K_RESOLVED, K_UNIT_PRICE};

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
pub fn manager_action(change: &Change) -> Option<&'static str> {
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
        match key.as_str() {
            K_UNIT_PRICE => {
                let new_object = matches!(&op.obj, ObjectId::Id(id) if created.contains(id));
                if !new_object {
                    return Some("set_unit_price");
                }
            }
            K_REFUND_OF | K_REASON => return Some("refund"),
            K_RESOLVED | K_ACCEPTED_PAID => return Some("resolve_review"),
            _ => {}
        }
    }
    None
}

/// Refuses the batch when one of its changes makes a manager-only action
/// and its author is not a manager in `roles`.
pub fn check_changes<'a>(
    changes: impl IntoIterator<Item = &'a Change>,
    roles: &Roles,
) -> Result<(), RemoteError> {
    if *roles == Roles::Anyone {
        return Ok(());
    }
    for change in changes {
        let Some(action) = manager_action(change) else { continue };
        let user = change_author(change).map(|a| a.user).unwrap_or_default();
        if !roles.is_manager(&user) {
            return Err(RemoteError::ManagerOnly { hash: change.hash(), user, action });
        }
    }
    Ok(())
}
