//! Floors and their tables (Odoo `restaurant.floor`, `restaurant.table`).

use serde::{Deserialize, Serialize};

use crate::ids::{FloorId, TableId};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableShape {
    #[default]
    Square,
    Round,
}

/// A table; position and size in pixels of the floor plan, as Odoo keeps them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub id: TableId,
    pub name: String,
    #[serde(default)]
    pub seats: u16,
    #[serde(default)]
    pub shape: TableShape,
    #[serde(default)]
    pub x: i32,
    #[serde(default)]
    pub y: i32,
    #[serde(default = "size")]
    pub width: u32,
    #[serde(default = "size")]
    pub height: u32,
}

fn size() -> u32 {
    100
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Floor {
    pub id: FloorId,
    pub name: String,
    #[serde(default)]
    pub sequence: i32,
    #[serde(default)]
    pub tables: Vec<Table>,
}
