//! One JSON error shape for every failure: `{"error": {"code", "message"}}`.
//! Client mistakes are 4xx with a stable code; nothing internal leaks.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use possync::engine::{CatalogueError, EngineError};
use possync::model::EditError;
use possync::{NoRandomness, NodeError};
use possync_api::BodyError;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// More for the client to show, under `error` (e.g. the payment claim
    /// that refused a payment: who is paying, on which terminal).
    pub detail: Option<(&'static str, serde_json::Value)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), detail: None }
    }

    pub fn with_detail(mut self, key: &'static str, value: serde_json::Value) -> Self {
        self.detail = Some((key, value));
        self
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some((key, value)) = self.detail {
            error[key] = value;
        }
        let body = Json(json!({ "error": error }));
        (self.status, body).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", e.body_text())
            }
            JsonRejection::JsonSyntaxError(e) => Self::bad_request("invalid_json", e.body_text()),
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the body is larger than 64 KiB",
            ),
            other => Self::bad_request("invalid_body", other.body_text()),
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        let message = e.to_string();
        match e {
            BodyError::InvalidUser => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_user", message),
            BodyError::InvalidId(_) => Self::bad_request("invalid_id", message),
            BodyError::InvalidEdit(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_edit", message),
            BodyError::UnknownUser(_) => Self::new(StatusCode::FORBIDDEN, "unknown_user", message),
            BodyError::UnknownProduct(_) => Self::new(StatusCode::NOT_FOUND, "unknown_product", message),
            BodyError::ProductUnavailable(_) => {
                Self::new(StatusCode::CONFLICT, "product_unavailable", message)
            }
            BodyError::ManagerOnly(_) => Self::new(StatusCode::FORBIDDEN, "manager_only", message),
            // A kind a newer possync-api adds, until it gets its own code here.
            _ => Self::bad_request("invalid_body", message),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::bad_request("invalid_query", r.body_text())
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        use StatusCode as S;
        let message = e.to_string();
        match e {
            NodeError::Engine(EngineError::UnknownOrder(_)) => {
                Self::new(S::NOT_FOUND, "unknown_order", message)
            }
            NodeError::Engine(EngineError::DuplicateOrder(_)) => {
                Self::new(S::CONFLICT, "duplicate_order", message)
            }
            NodeError::Engine(EngineError::TooManyOrders(_)) => {
                Self::new(S::SERVICE_UNAVAILABLE, "too_many_orders", message)
            }
            NodeError::Engine(EngineError::Edit(edit)) => edit_error(edit),
            NodeError::Catalogue(CatalogueError::NotManager { .. }) => {
                Self::new(S::FORBIDDEN, "manager_only", message)
            }
            NodeError::Catalogue(CatalogueError::Invalid(_)) => {
                Self::new(S::UNPROCESSABLE_ENTITY, "invalid_catalogue", message)
            }
            NodeError::Storage(_) | NodeError::WriterStopped => {
                Self::new(S::SERVICE_UNAVAILABLE, "storage_unavailable", message)
            }
            NodeError::StorageFailed(_) => Self::new(S::SERVICE_UNAVAILABLE, "storage_failed", message),
            NodeError::Stopped => {
                Self::new(S::SERVICE_UNAVAILABLE, "stopping", "the terminal is shutting down")
            }
            _ => {
                tracing::error!(error = %message, "internal error");
                Self::new(S::INTERNAL_SERVER_ERROR, "internal", "internal error; see the terminal's log")
            }
        }
    }
}

impl From<NoRandomness> for ApiError {
    fn from(e: NoRandomness) -> Self {
        tracing::error!(error = %e, "no id for a new payment");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the terminal's log")
    }
}

fn edit_error(e: EditError) -> ApiError {
    use StatusCode as S;
    let message = e.to_string();
    match e {
        EditError::Closed(_) => ApiError::new(S::CONFLICT, "order_closed", message),
        EditError::NotClosed => ApiError::new(S::CONFLICT, "order_open", message),
        EditError::UnknownLine(_) => ApiError::new(S::NOT_FOUND, "unknown_line", message),
        EditError::DuplicateLine(_) => ApiError::new(S::CONFLICT, "duplicate_line", message),
        EditError::DuplicatePayment(_) => ApiError::new(S::CONFLICT, "duplicate_payment", message),
        EditError::Invalid { .. } => ApiError::new(S::UNPROCESSABLE_ENTITY, "invalid_field", message),
        EditError::NotFullyPaid { .. } => ApiError::new(S::CONFLICT, "not_fully_paid", message),
        EditError::NothingDue { .. } => ApiError::new(S::CONFLICT, "nothing_due", message),
        EditError::Overpayment { .. } => ApiError::new(S::CONFLICT, "overpayment", message),
        EditError::RefundTooLarge { .. } => ApiError::new(S::CONFLICT, "refund_too_large", message),
        EditError::HasPayments { .. } => ApiError::new(S::CONFLICT, "has_payments", message),
        EditError::ManagerOnly { .. } => ApiError::new(S::FORBIDDEN, "manager_only", message),
        // (`_`: a kind a newer model adds, until it gets its own code here.)
        EditError::Schema(_) | EditError::Automerge(_) | _ => {
            tracing::error!(error = %message, "edit failed inside the model");
            ApiError::new(S::INTERNAL_SERVER_ERROR, "internal", "internal error; see the terminal's log")
        }
    }
}
