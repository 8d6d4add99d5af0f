//! [`ClaimView`]: a payment in progress, as the application shows it ("being
//! paid on T2 by ana"). The engine's claims live on its monotonic clock; this
//! is the same claim with the time left instead of an instant, so it can be
//! serialised for the API and the change feed.

use std::time::Instant;

use possync_engine::PaymentClaim;
use possync_model::{OrderId, TerminalId};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClaimView {
    pub order: OrderId,
    /// The terminal taking the payment.
    pub terminal: TerminalId,
    pub user: String,
    /// This terminal's own claim.
    pub mine: bool,
    /// Every peer agreed (for our own claim): the payment may be taken.
    pub granted: bool,
    /// Milliseconds until the claim lapses unless renewed.
    pub expires_in_ms: u64,
}

impl ClaimView {
    pub(crate) fn new(claim: PaymentClaim, now: Instant) -> Self {
        ClaimView {
            expires_in_ms: u64::try_from(claim.expires.saturating_duration_since(now).as_millis())
                .unwrap_or(u64::MAX),
            order: claim.order,
            terminal: claim.terminal,
            user: claim.user,
            mine: claim.mine,
            granted: claim.granted,
        }
    }

    /// Another terminal's claim: this one must not take the payment.
    pub fn is_elsewhere(&self) -> bool {
        !self.mine
    }
}
