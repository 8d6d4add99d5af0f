//! Till arithmetic: how a tender becomes a payment, and how much may be given
//! back. Pure integer minor units; the edits in `order_doc.rs` call these
//! before writing anything, so a refused tender writes nothing.

use serde::{Deserialize, Serialize};

use crate::error::EditError;
use crate::ids::PaymentId;
use crate::schema::OrderState;
use possync_money::Money;

/// A payment taken at the till (`Edit::Pay`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Tender {
    pub payment: PaymentId,
    /// `cash`, `card`, ...: only cash gives change.
    pub method: String,
    /// What the customer handed over (cash) or was charged (card), tip
    /// included.
    pub tendered: Money,
    /// The part of `tendered` that is a tip: not counted against the bill.
    #[serde(default)]
    pub tip: Money,
}

/// Money given back (`Edit::Refund`): written as a payment of `-amount`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct NewRefund {
    pub payment: PaymentId,
    pub method: String,
    /// How much is given back (above zero).
    pub amount: Money,
    /// Why: shown to the manager and on the receipt. Required.
    pub reason: String,
    /// The payment being given back, when it is one.
    #[serde(default)]
    pub refund_of: Option<PaymentId>,
}

/// How a tender splits: `amount` pays the bill, `change` goes back to the
/// customer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Split {
    pub amount: Money,
    pub change: Money,
}

/// Whether `method` is cash: the only method that gives change (a card is
/// charged exactly what it pays).
pub fn gives_change(method: &str) -> bool {
    method.eq_ignore_ascii_case("cash")
}

/// Splits a tender against what is due. Refused: nothing due (a second
/// payment of a paid bill), a tip above the tender, and a non-cash tender
/// above what is due (it would overpay: the customer cannot get change from
/// a card).
pub fn split_tender(due: Money, tender: &Tender) -> Result<Split, EditError> {
    let (tendered, tip) = (tender.tendered.0, tender.tip.0);
    if tendered <= 0 {
        return Err(EditError::Invalid { field: "tendered", detail: "must be above zero".into() });
    }
    if !(0..=tendered).contains(&tip) {
        return Err(EditError::Invalid {
            field: "tip",
            detail: format!("{} is not between 0 and the tendered {}", Money(tip), Money(tendered)),
        });
    }
    if due.0 <= 0 {
        return Err(EditError::NothingDue { due: due.0 });
    }
    let for_bill = tendered - tip;
    let amount = for_bill.min(due.0);
    let change = for_bill - amount;
    if change > 0 && !gives_change(&tender.method) {
        return Err(EditError::Overpayment { due: due.0, amount: for_bill });
    }
    Ok(Split { amount: Money(amount), change: Money(change) })
}

/// The most that may be given back now. On an open order, anything paid (a
/// payment taken by mistake), or what a refund order owes the customer; on
/// a paid one, only what payments exceed the total by: the extra of a
/// double payment, or what a refund order owes; on a cancelled one (a
/// payment taken while another terminal cancelled), everything paid:
/// nothing was sold.
pub fn refundable(state: OrderState, total: Money, paid: Money) -> Money {
    let extra = paid.0.saturating_sub(total.0).max(0);
    match state {
        OrderState::Open => Money(extra.max(paid.0)),
        OrderState::Cancelled => Money(paid.0.max(0)),
        OrderState::Paid => Money(extra),
    }
}

/// Checks a refund against [`refundable`].
pub fn check_refund(
    state: OrderState,
    total: Money,
    paid: Money,
    refund: &NewRefund,
) -> Result<(), EditError> {
    if refund.amount.0 <= 0 {
        return Err(EditError::Invalid {
            field: "amount",
            detail: "a refund gives back more than zero".into(),
        });
    }
    if refund.reason.trim().is_empty() {
        return Err(EditError::Invalid { field: "reason", detail: "say why the money is given back".into() });
    }
    let max = refundable(state, total, paid);
    if refund.amount > max {
        return Err(EditError::RefundTooLarge { max: max.0, amount: refund.amount.0 });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tender(method: &str, tendered: i64, tip: i64) -> Tender {
        Tender {
            payment: PaymentId::from_random(1),
            method: method.into(),
            tendered: Money(tendered),
            tip: Money(tip),
        }
    }

    #[test]
    fn cash_gives_change_and_a_card_pays_exactly() {
        assert_eq!(
            split_tender(Money(890), &tender("cash", 2000, 0)),
            Ok(Split { amount: Money(890), change: Money(1110) })
        );
        assert_eq!(
            split_tender(Money(890), &tender("card", 1000, 110)),
            Ok(Split { amount: Money(890), change: Money(0) })
        );
        // Partial: 5.00 of 8.90.
        assert_eq!(
            split_tender(Money(890), &tender("card", 500, 0)),
            Ok(Split { amount: Money(500), change: Money(0) })
        );
        assert_eq!(
            split_tender(Money(890), &tender("card", 1000, 0)),
            Err(EditError::Overpayment { due: 890, amount: 1000 })
        );
    }

    #[test]
    fn nothing_due_and_bad_tenders_are_refused() {
        assert_eq!(split_tender(Money(0), &tender("cash", 100, 0)), Err(EditError::NothingDue { due: 0 }));
        assert_eq!(
            split_tender(Money(-890), &tender("card", 890, 0)),
            Err(EditError::NothingDue { due: -890 })
        );
        assert!(matches!(split_tender(Money(890), &tender("cash", 0, 0)), Err(EditError::Invalid { .. })));
        assert!(matches!(
            split_tender(Money(890), &tender("cash", 100, 200)),
            Err(EditError::Invalid { .. })
        ));
        assert!(matches!(split_tender(Money(890), &tender("cash", 100, -1)), Err(EditError::Invalid { .. })));
    }

    #[test]
    fn refunds_are_bounded_by_what_was_paid_too_much() {
        // Paid twice (17.80 of 8.90), closed: 8.90 may go back, not more.
        assert_eq!(refundable(OrderState::Paid, Money(890), Money(1780)), Money(890));
        assert_eq!(refundable(OrderState::Paid, Money(890), Money(890)), Money(0));
        // Open: a payment taken by mistake may go back whole.
        assert_eq!(refundable(OrderState::Open, Money(890), Money(890)), Money(890));
        // A refund order (total -8.90) owes the customer 8.90.
        assert_eq!(refundable(OrderState::Open, Money(-890), Money(0)), Money(890));
        // Cancelled while paid elsewhere: all of it goes back.
        assert_eq!(refundable(OrderState::Cancelled, Money(890), Money(890)), Money(890));
        let r = NewRefund {
            payment: PaymentId::from_random(2),
            method: "cash".into(),
            amount: Money(900),
            reason: "paid twice".into(),
            refund_of: None,
        };
        assert_eq!(
            check_refund(OrderState::Paid, Money(890), Money(1780), &r),
            Err(EditError::RefundTooLarge { max: 890, amount: 900 })
        );
        let no_reason = NewRefund { reason: " ".into(), amount: Money(1), ..r };
        assert!(matches!(
            check_refund(OrderState::Paid, Money(890), Money(1780), &no_reason),
            Err(EditError::Invalid { field: "reason", .. })
        ));
    }
}
