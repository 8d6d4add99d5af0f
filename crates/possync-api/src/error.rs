//! Why a request body was refused. The daemon maps each to a status and a
//! stable error code (`invalid_user`, `invalid_id`, `invalid_edit`).

use possync_model::InvalidId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    #[error("user must be 1 to {} bytes", crate::MAX_USER_LEN)]
    InvalidUser,
    #[error(transparent)]
    InvalidId(#[from] InvalidId),
    #[error("{0}")]
    InvalidEdit(String),
    /// The catalogue lists users, and not this one.
    #[error("no user `{0}` in the catalogue")]
    UnknownUser(String),
    #[error("no product `{0}` in the catalogue")]
    UnknownProduct(String),
    #[error("{0} is not available")]
    ProductUnavailable(String),
    #[error("only a manager may {0}")]
    ManagerOnly(&'static str),
}
