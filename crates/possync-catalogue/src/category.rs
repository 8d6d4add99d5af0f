//! Menu categories (Odoo `pos.category`), possibly nested.

use serde::{Deserialize, Serialize};

use crate::ids::CategoryId;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub id: CategoryId,
    pub name: String,
    #[serde(default)]
    pub parent: Option<CategoryId>,
    /// Display order among siblings.
    #[serde(default)]
    pub sequence: i32,
}
