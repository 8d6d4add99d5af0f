//! Terminal policies from the reference addon, enforced by every terminal
//! on its own API the same way.

use std::collections::BTreeSet;

use possync::model::{OrderView, TerminalId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Show orders opened on other terminals (the addon's "accept incoming
    /// orders"). When off, they are still kept and synced, just not shown.
    #[serde(default = "yes")]
    pub accept_incoming: bool,
    /// A waiter may edit only the orders (tables) they opened, unless they are
    /// a manager.
    #[serde(default)]
    pub one_waiter_per_table: bool,
    /// Users allowed to edit any table.
    #[serde(default)]
    pub managers: BTreeSet<String>,
}

fn yes() -> bool {
    true
}

impl Policy {
    pub fn permissive() -> Self {
        Policy { accept_incoming: true, one_waiter_per_table: false, managers: BTreeSet::new() }
    }

    /// Managers give money back and resolve flagged orders.
    pub fn is_manager(&self, user: &str) -> bool {
        self.managers.contains(user)
    }

    /// Why `user` may not give money back or resolve a review, if they may
    /// not.
    pub fn refuses_manager_action(&self, user: &str) -> Option<String> {
        if self.is_manager(user) {
            return None;
        }
        Some(format!("only a manager may give money back or resolve a review; {user} is not one"))
    }

    /// Whether this terminal shows `order`.
    pub fn shows(&self, terminal: &TerminalId, order: &OrderView) -> bool {
        self.accept_incoming || &order.created.terminal == terminal
    }

    /// Why `user` may not edit `order`, if they may not.
    pub fn refuses_edit(&self, user: &str, order: &OrderView) -> Option<String> {
        if !self.one_waiter_per_table || self.managers.contains(user) || order.created.user == user {
            return None;
        }
        let table = order.table.as_deref().unwrap_or("this order");
        Some(format!("{table} is served by {}; only they or a manager may change it", order.created.user))
    }
}
