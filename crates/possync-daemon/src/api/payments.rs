//! Payments at the till: the payment claim ("being paid on T2 by ana"),
//! tenders with change, tips and split tender, refunds, refund orders, and a
//! manager's review of a flagged order. The claim is what keeps two
//! connected terminals from charging one customer twice (`docs/PROTOCOL.md`
//! §4.6); the model refuses a payment when nothing is due, and flags
//! whatever gets through (`docs/CONFLICTS.md`).

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use possync::ClaimView;
use possync::model::{
    Edit, Money, NewLine, NewRefund, OpenOrder, OrderId, OrderState, OrderView, PaymentId, ReviewFlag, Tender,
};
use possync_api::{ClaimBody, PayBody, RefundBody, RefundOrderBody, ReviewAction, ReviewBody};
use serde_json::{Value, json};

use super::orders::{editable, parse_order_id, random_bits, visible};
use super::users::{require_manager, role};
use super::{ApiError, AppState};

/// Longest a request waits for the other terminals to agree to its claim.
/// The engine grants it anyway after 3 s without answers.
const CLAIM_WAIT: Duration = Duration::from_secs(5);
/// How often a waiting request looks at its claim again.
const CLAIM_POLL: Duration = Duration::from_millis(10);

/// "Being paid on T2 by ana": a clear refusal the page shows as such.
fn in_progress(claim: &ClaimView) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "payment_in_progress",
        format!("being paid on {} by {}", claim.terminal, claim.user),
    )
    .with_detail("claim", json!(claim))
}

/// Whether a payment can be taken on the order at all: something due, and
/// open (or paid but short, see `underpaid`).
fn payable(view: &OrderView) -> Result<(), ApiError> {
    let short = view.review.iter().any(|f| matches!(f, ReviewFlag::Underpaid { .. }));
    if view.state != OrderState::Open && !short {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "order_closed",
            format!("order is {}: nothing to pay", view.state.as_str()),
        ));
    }
    if view.totals.due.0 <= 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "nothing_due",
            format!("nothing is due on {} (due {})", view.name, view.totals.due),
        ));
    }
    Ok(())
}

/// Asks for the order's payment claim and waits until every connected
/// terminal agreed (or another terminal's claim refuses it).
async fn hold_claim(state: &AppState, user: &str, id: &OrderId) -> Result<ClaimView, ApiError> {
    let deadline = tokio::time::Instant::now() + CLAIM_WAIT;
    let mut claim = state.node.claim_payment(user, id).await?;
    loop {
        if claim.is_elsewhere() {
            return Err(in_progress(&claim));
        }
        if claim.granted {
            return Ok(claim);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "claim_pending",
                "the other terminals did not answer in time; try again",
            ));
        }
        tokio::time::sleep(CLAIM_POLL).await;
        claim = match state.node.payment_claims().await?.into_iter().find(|c| &c.order == id) {
            Some(c) => c,
            // Ours lost a tie and the winner is already done: ask again.
            None => state.node.claim_payment(user, id).await?,
        };
    }
}

/// `GET /api/payments`: every payment in progress this terminal knows of.
pub async fn claims(State(state): State<AppState>) -> Result<Json<Vec<ClaimView>>, ApiError> {
    Ok(Json(state.node.payment_claims().await?))
}

/// `POST /api/orders/{id}/payment/claim`: the payment screen opens (or,
/// again, stays open). 200 with our claim, granted; 409
/// `payment_in_progress` with the other terminal's.
pub async fn claim(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<ClaimBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body?;
    role(&state, &b.user)?;
    let id = parse_order_id(&id)?;
    let view = editable(&state, &id, &b.user).await?;
    payable(&view)?;
    let claim = hold_claim(&state, &b.user, &id).await?;
    Ok(Json(json!({ "claim": claim })))
}

/// `POST /api/orders/{id}/payment/release`: the payment screen closes
/// without paying. Only this terminal's own claim is released.
pub async fn release(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<ClaimBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body?;
    role(&state, &b.user)?;
    let id = parse_order_id(&id)?;
    visible(&state, &id).await?;
    state.node.release_payment(&id).await?;
    Ok(Json(json!({ "released": true })))
}

/// `POST /api/orders/{id}/pay`: takes the tenders under this terminal's
/// claim, closes the order as paid once nothing is due, and releases the
/// claim when closed.
pub async fn pay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<PayBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body?;
    b.check()?;
    let id = parse_order_id(&id)?;
    let view = editable(&state, &id, &b.user).await?;
    payable(&view)?;
    hold_claim(&state, &b.user, &id).await?;
    let result = take_tenders(&state, &b, &id).await;
    let view = visible(&state, &id).await?;
    if view.state != OrderState::Open || result.is_err() {
        // Paid, or refused: the screen is done with this claim (a partial
        // payment keeps it while the cashier takes the rest).
        state.node.release_payment(&id).await?;
    }
    result?;
    let claim = state.node.payment_claims().await?.into_iter().find(|c| c.order == id);
    Ok(Json(json!({ "order": view, "claim": claim })))
}

async fn take_tenders(state: &AppState, b: &PayBody, id: &OrderId) -> Result<(), ApiError> {
    for t in &b.tenders {
        let tender = Tender {
            payment: PaymentId::from_random(random_bits()?),
            method: t.method.clone(),
            tendered: t.tendered,
            tip: t.tip,
        };
        state.node.edit(&b.user, id, Edit::Pay(tender)).await?;
    }
    let view = visible(state, id).await?;
    if b.close && view.state == OrderState::Open && view.totals.due.0 <= 0 {
        state.node.edit(&b.user, id, Edit::MarkPaid).await?;
    }
    Ok(())
}

fn manager(state: &AppState, user: &str) -> Result<(), ApiError> {
    require_manager(state, user)
}

/// `POST /api/orders/{id}/refund`: gives money back (managers only).
pub async fn refund(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<RefundBody>, JsonRejection>,
) -> Result<Json<OrderView>, ApiError> {
    let Json(b) = body?;
    role(&state, &b.user)?;
    let id = parse_order_id(&id)?;
    manager(&state, &b.user)?;
    visible(&state, &id).await?;
    let refund = NewRefund {
        payment: PaymentId::from_random(random_bits()?),
        method: b.method,
        amount: b.amount,
        reason: b.reason,
        refund_of: b.refund_of,
    };
    state.node.edit(&b.user, &id, Edit::Refund(refund)).await?;
    Ok(Json(visible(&state, &id).await?))
}

/// `POST /api/orders/{id}/review`: a manager resolves a flagged order by
/// giving the extra back, accepting it, or resolving it as it is; who and
/// why are recorded on the order.
pub async fn review(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<ReviewBody>, JsonRejection>,
) -> Result<Json<OrderView>, ApiError> {
    let Json(b) = body?;
    role(&state, &b.user)?;
    let id = parse_order_id(&id)?;
    manager(&state, &b.user)?;
    if b.reason.trim().is_empty() {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "reason: say why"));
    }
    let view = visible(&state, &id).await?;
    if view.review.is_empty() {
        return Err(ApiError::new(StatusCode::CONFLICT, "nothing_to_review", "the order has no review flag"));
    }
    // What goes back: what payments exceed the total by; on a cancelled
    // order (paid while another terminal cancelled) everything paid.
    let extra = match view.state {
        OrderState::Cancelled => view.totals.paid,
        _ => Money(view.totals.paid.0.saturating_sub(view.totals.total.0)),
    };
    if view.state == OrderState::Open && b.action != ReviewAction::Refund {
        // Only a closing records an acceptance or a review; an open order's
        // extra is given back, or the order is closed first.
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "order_open",
            "the order is open: give the extra back, or close it before accepting or resolving",
        ));
    }
    if b.action == ReviewAction::Refund {
        if extra.0 <= 0 {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "nothing_to_refund",
                "payments do not exceed the total",
            ));
        }
        let method = b
            .method
            .clone()
            .or_else(|| view.payments.iter().rev().find(|p| !p.is_refund()).map(|p| p.method.clone()))
            .unwrap_or_else(|| "cash".into());
        let refund = NewRefund {
            payment: PaymentId::from_random(random_bits()?),
            method,
            amount: extra,
            reason: b.reason.clone(),
            refund_of: None,
        };
        state.node.edit(&b.user, &id, Edit::Refund(refund)).await?;
    }
    if view.state != OrderState::Open {
        let resolve = Edit::ResolveReview {
            state: None,
            reason: Some(b.reason.clone()),
            accept: b.action == ReviewAction::Accept,
        };
        state.node.edit(&b.user, &id, resolve).await?;
    }
    Ok(Json(visible(&state, &id).await?))
}

/// `POST /api/orders/{id}/refund_order`: opens a refund order for a paid
/// order, linked to it, with its lines at minus their price (managers
/// only). The cashier then gives the money back on it with a refund.
pub async fn refund_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<RefundOrderBody>, JsonRejection>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let Json(b) = body?;
    role(&state, &b.user)?;
    let id = parse_order_id(&id)?;
    manager(&state, &b.user)?;
    let original = visible(&state, &id).await?;
    if original.state != OrderState::Paid {
        return Err(ApiError::new(StatusCode::CONFLICT, "not_paid", "only a paid order can be refunded"));
    }
    let refund = OpenOrder {
        refund_of: Some(id.clone()),
        // Totalled as the original was: its rounding rules and each line's taxes.
        pricing: original.pricing,
        table: original.table.clone(),
        customer: original.customer.clone(),
        ..OpenOrder::default()
    };
    let refund_id = state.node.open_order(&b.user, refund).await?;
    state.node.edit(&b.user, &refund_id, Edit::SetNote { note: format!("Refund: {}", b.reason) }).await?;
    for line in original.active_lines() {
        let negative = NewLine {
            id: line.id.clone(),
            product: line.product.clone(),
            display_name: line.display_name.clone(),
            qty: line.qty,
            unit_price: Money(-line.unit_price.0),
            discount: line.discount,
            note: line.note.clone(),
            ext: Default::default(),
            taxes: line.taxes.to_vec(),
        };
        state.node.edit(&b.user, &refund_id, Edit::AddLine(negative)).await?;
    }
    Ok((StatusCode::CREATED, Json(visible(&state, &refund_id).await?)))
}
