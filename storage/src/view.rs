//! Views: named queries kept in the catalog next to the tables.
//!
//! Storage does not interpret a view: it keeps its SQL text (as the SQL layer wrote it back
//! after parsing) and its column names durably, in the same catalog commit discipline as
//! tables, so that a view survives restarts and `kill -9`. Tables and views share one
//! namespace: a name is a table's or a view's, never both.

use serde::{Deserialize, Serialize};

/// A view as stored in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewDef {
    pub name: String,
    /// The defining query (`SELECT ...`), as SQL text.
    pub sql: String,
    /// Column names given by `CREATE VIEW v (a, b) AS ...`; empty when none were given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// `COMMENT ON VIEW`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}
