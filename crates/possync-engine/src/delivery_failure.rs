//! Why a delivery failed, as the sink tells it: the back office as a whole
//! (it backs off as a whole, probing one order at a time), or this one
//! order (the others go on; this one waits on its own, slower schedule).
//! Without the difference, one order a back office will never take would
//! be the probe every time and hold up all the others.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryFailure {
    /// The back office is down, unreachable, refuses the login, or did not
    /// answer: nothing about this order in particular.
    Unavailable(String),
    /// This order, as it is, is refused (an id the back office does not
    /// know, a row it rejects). It stays owed and is retried after
    /// `refused_backoff_min` doubling to `refused_backoff_max`: the fix
    /// is usually a catalogue or configuration change.
    Refused(String),
}

impl DeliveryFailure {
    pub fn message(&self) -> &str {
        match self {
            DeliveryFailure::Unavailable(m) | DeliveryFailure::Refused(m) => m,
        }
    }
}

impl fmt::Display for DeliveryFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// A plain error message is the back office's.
impl From<String> for DeliveryFailure {
    fn from(message: String) -> Self {
        DeliveryFailure::Unavailable(message)
    }
}

impl From<&str> for DeliveryFailure {
    fn from(message: &str) -> Self {
        DeliveryFailure::Unavailable(message.to_owned())
    }
}
