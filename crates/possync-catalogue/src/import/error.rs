//! Why a file was refused.

use crate::validation_error::ValidationErrors;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// Not JSON, or a value of the wrong type or out of range where it
    /// stands. `path` is the JSON path (`catalogue.products[3].price`).
    #[error("line {line}, column {column}, at `{path}`: {message}")]
    Syntax { line: usize, column: usize, path: String, message: String },
    #[error("file of {bytes} bytes, more than {limit}")]
    TooLarge { bytes: usize, limit: usize },
    #[error("not a possync catalogue file: `format` is {found:?}, expected {expected:?} version {version}")]
    Format { found: String, expected: &'static str, version: u32 },
    /// An Odoo record that cannot be carried over: `path` names the model,
    /// the record's position and id, and the field.
    #[error("at `{path}`: {problem}")]
    Record { path: String, problem: String },
    /// The file reads, but the catalogue it describes is inconsistent.
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
}

impl ImportError {
    pub(crate) fn syntax(e: &serde_json::Error, path: String) -> Self {
        let full = e.to_string();
        // serde_json appends " at line L column C"; keep the message alone.
        let message = match full.rfind(" at line ") {
            Some(i) => full[..i].to_owned(),
            None => full,
        };
        ImportError::Syntax { line: e.line(), column: e.column(), path, message }
    }
}
