//! Identifiers. Every id is created offline, without coordination, from 128
//! random bits supplied by the caller (the sans-IO core never draws randomness
//! itself), so two terminals cannot mint the same id.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::InvalidId;

/// Longest id accepted from the API or the network.
pub const MAX_ID_LEN: usize = 64;

macro_rules! random_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A fresh id from 128 random bits, written as 32 lowercase hex digits.
            pub fn from_random(bits: u128) -> Self {
                Self(format!("{bits:032x}"))
            }

            /// Accepts an id chosen by an integrator (e.g. Odoo's order `uid`):
            /// 1 to 64 characters of `A-Z a-z 0-9 - _ .`.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                check_id(s, $what).map(|()| Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                check_id(&s, $what).map(|()| Self(s))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

random_id!(
    /// Identifies one order, and so one Automerge document, across all terminals.
    OrderId,
    "order id"
);
random_id!(
    /// Identifies one line inside an order. Lines are keyed by id, never by list
    /// index, so concurrent additions never collide.
    LineId,
    "line id"
);
random_id!(
    /// Identifies one payment inside an order.
    PaymentId,
    "payment id"
);

fn check_id(s: &str, what: &'static str) -> Result<(), InvalidId> {
    let ok = !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok { Ok(()) } else { Err(InvalidId { what, value: truncate_for_error(s) }) }
}

pub(crate) fn truncate_for_error(s: &str) -> String {
    s.chars().take(80).collect()
}

/// A terminal's short code, unique within a multi-session (e.g. `BAR`, `T2`).
/// It prefixes the human-readable names of the orders the terminal opens, which
/// is what keeps names from colliding even when terminals work offline.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TerminalId(String);

/// Longest terminal code.
pub const MAX_TERMINAL_LEN: usize = 16;

impl TerminalId {
    /// 1 to 16 ASCII letters or digits.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let ok = !s.is_empty() && s.len() <= MAX_TERMINAL_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId { what: "terminal id", value: truncate_for_error(s) })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TerminalId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, InvalidId> {
        Self::parse(&s)
    }
}

impl From<TerminalId> for String {
    fn from(id: TerminalId) -> String {
        id.0
    }
}

impl fmt::Display for TerminalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TerminalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TerminalId({})", self.0)
    }
}

/// A human-readable order name, `<terminal>-<sequence>` (e.g. `BAR-0042`).
///
/// The terminal part is unique per terminal and the sequence is kept by that
/// terminal alone, so names never collide, even for orders opened offline, and
/// every terminal shows the same name because the name is written into the
/// order document once, by its creator.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderName(String);

impl OrderName {
    pub fn compose(terminal: &TerminalId, sequence: u64) -> Self {
        Self(format!("{terminal}-{sequence:04}"))
    }

    /// The sequence number of a name that `terminal` composed, if it is one.
    /// A restarted terminal uses this to continue after the highest name it
    /// finds, so a restore from an old backup does not reuse names.
    pub fn sequence_of(&self, terminal: &TerminalId) -> Option<u64> {
        let rest = self.0.strip_prefix(terminal.as_str())?.strip_prefix('-')?;
        rest.parse().ok()
    }

    pub(crate) fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_bad_input() {
        assert!(OrderId::parse("").is_err());
        assert!(OrderId::parse("a b").is_err());
        assert!(OrderId::parse(&"x".repeat(65)).is_err());
        assert_eq!(OrderId::parse("00001-001-0001").unwrap().as_str(), "00001-001-0001");
        assert_eq!(LineId::from_random(255).as_str(), "000000000000000000000000000000ff");
        assert!(TerminalId::parse("T-1").is_err());
    }

    #[test]
    fn names_round_trip_their_sequence() {
        let t = TerminalId::parse("BAR").unwrap();
        let name = OrderName::compose(&t, 42);
        assert_eq!(name.as_str(), "BAR-0042");
        assert_eq!(name.sequence_of(&t), Some(42));
        assert_eq!(name.sequence_of(&TerminalId::parse("BA").unwrap()), None);
        assert_eq!(OrderName::compose(&t, 123_456).sequence_of(&t), Some(123_456));
    }
}
