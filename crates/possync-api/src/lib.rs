//! # possync-api: what a client sends to the local HTTP API
//!
//! The JSON request bodies of `possync-daemon`'s API (`docs/openapi.json`)
//! and the checks the daemon makes on them before any order is touched. They
//! live apart from the daemon so that decoding them needs only the order
//! model: the fuzz targets (`fuzz/`) build them without libp2p and tokio.
//!
//! - [`OpenBody`]: `POST /api/orders`.
//! - [`EditBody`] and [`parse_edit`]: `POST /api/orders/{id}/edit`.
//! - [`SplitBody`]: `POST /api/orders/{id}/split`.
//! - [`NetworkBody`]: `POST /api/network`.
//! - [`ClaimBody`], [`PayBody`], [`RefundBody`], [`ReviewBody`],
//!   [`RefundOrderBody`]: the payment routes.

mod body;
mod error;

pub use body::{
    ClaimBody, EditBody, MAX_TENDERS, MAX_USER_LEN, NetworkBody, OpenBody, PayBody, RefundBody,
    RefundOrderBody, ReviewAction, ReviewBody, SplitBody, SplitLine, TenderBody, check_user, parse_edit,
};
pub use error::BodyError;
