//! What SQL declares about a table beyond its columns, kept in its schema: keys (`PRIMARY
//! KEY`, `UNIQUE`), indexes (`CREATE INDEX`) and comments (`COMMENT ON`).
//!
//! Storage keeps them durably and checks that they name the table's columns; it builds
//! nothing from them. A table's layout already gives what an index would: rows are sorted
//! by series and time, every tag has a bitmap per segment, and time ranges prune
//! partitions, segments and blocks. The SQL layer decides what a key may be (the series
//! key and the time column, the identity of a point) and lists all of it in `pg_catalog`.
//!
//! Tables, views, indexes and keys share one namespace of relation names, as in
//! PostgreSQL (a key is also the index of its name).

use serde::{Deserialize, Serialize};

/// A `PRIMARY KEY` or `UNIQUE` constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDef {
    /// The constraint's name, which is also its index's (`cpu_pkey`).
    pub name: String,
    #[serde(default)]
    pub primary: bool,
    pub columns: Vec<String>,
    /// `COMMENT ON INDEX` of the key's index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// An index made by `CREATE INDEX`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDef {
    pub name: String,
    pub columns: Vec<String>,
    #[serde(default)]
    pub unique: bool,
    /// The access method `USING` named (`btree` when none was).
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// What a `COMMENT ON` is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentTarget {
    Table(String),
    Column {
        table: String,
        column: String,
    },
    View(String),
    /// An index, or a key's index.
    Index(String),
}
