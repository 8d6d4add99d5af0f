//! Who did what: the reference addon's `ms_info`.

use serde::{Deserialize, Serialize};

use crate::ids::TerminalId;

/// The cashier or waiter and the terminal behind an edit.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Author {
    /// The POS user (login or display name); free text, at most 64 characters.
    pub user: String,
    pub terminal: TerminalId,
}

/// An [`Author`] and the wall-clock time of the edit, in milliseconds since the
/// Unix epoch, as the editing terminal saw it (informational: merge results
/// never depend on clocks).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Stamp {
    pub user: String,
    pub terminal: TerminalId,
    pub at_ms: i64,
}

impl Stamp {
    pub fn author(&self) -> Author {
        Author { user: self.user.clone(), terminal: self.terminal.clone() }
    }
}

/// What every local edit needs besides the edit itself: who makes it, and when.
/// Time is passed in (never read from the system) so that simulations replay
/// byte for byte.
#[derive(Clone, Debug)]
pub struct EditContext {
    pub author: Author,
    pub at_ms: i64,
    /// The user's role in the catalogue; `None` when no user list is
    /// configured (then every edit is allowed). See `privileges.rs`.
    pub role: Option<possync_catalogue::Role>,
}

impl EditContext {
    pub fn new(user: impl Into<String>, terminal: TerminalId, at_ms: i64) -> Self {
        Self { author: Author { user: user.into(), terminal }, at_ms, role: None }
    }

    /// The same context for a user with this role.
    pub fn with_role(mut self, role: possync_catalogue::Role) -> Self {
        self.role = Some(role);
        self
    }

    pub(crate) fn stamp(&self) -> Stamp {
        Stamp { user: self.author.user.clone(), terminal: self.author.terminal.clone(), at_ms: self.at_ms }
    }
}
