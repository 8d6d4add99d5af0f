//! A value that is out of range, named by its field: what a single item's
//! check reports. The catalogue's validation adds which item it was.

/// `field`: what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {problem}")]
pub struct FieldError {
    pub field: &'static str,
    pub problem: String,
}

impl FieldError {
    pub(crate) fn new(field: &'static str, problem: impl Into<String>) -> Self {
        FieldError { field, problem: problem.into() }
    }
}
