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
//! - [`user_role`], [`price_edit`]: what the catalogue
//!   decides (the user's role; a menu line's price and taxes).
//! - [`ClaimBody`], [`PayBody`], [`RefundBody`], [`ReviewBody`],
//!   [`RefundOrderBody`]: the payment routes.

mod body;
mod catalogue;
mod error;

pub use body::{
    ClaimBody, EditBody, MAX_TENDERS, MAX_USER_LEN, NetworkBody, OpenBody, PayBody, RefundBody,
    RefundOrderBody, ReviewAction, ReviewBody, SplitBody, SplitLine, TenderBody, check_user,
    parse_catalogue_edit, parse_edit,
};
pub use catalogue::{price_edit, user_role};
pub use error::BodyError;
