//! Why a catalogue was refused: every problem found, each naming the item
//! (kind and id) and the field.

use std::fmt;

/// One problem: `item` is e.g. `product "12"`, `field` e.g. `taxes[1]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{item}, field `{field}`: {problem}")]
pub struct ValidationError {
    pub item: String,
    pub field: String,
    pub problem: String,
}

/// Every problem of a catalogue, in the order of the catalogue's sections.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the catalogue has {} problem(s)", self.0.len())?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}
