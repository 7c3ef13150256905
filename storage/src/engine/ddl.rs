//! Catalog changes a user asks for (`CREATE TABLE`, `ALTER TABLE ... ADD COLUMN`,
//! `DROP TABLE`, `CREATE VIEW`, `DROP VIEW`) and the catalog reads the SQL layer plans with.
//!
//! Each change holds the `maintenance` lock while it derives the next catalog version,
//! persists it and publishes it, so it never interleaves with a flush or compaction commit.
//! None of them waits for a merge: compaction holds the lock only to commit.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Engine;
use crate::catalog::TableState;
use crate::catalog::Version;
use crate::error::{Error, Result};
use crate::relation::{CommentTarget, IndexDef};
use crate::schema::{NewColumn, SqlColumn, TableSchema};
use crate::view::ViewDef;

/// The table whose key or index is named `name`.
fn index_owner(version: &Version, name: &str) -> Option<String> {
    version
        .tables
        .values()
        .find(|t| t.schema.index_names().any(|n| n == name))
        .map(|t| t.schema.name.clone())
}

impl Engine {
    /// Creates a table. Durable when this returns.
    pub fn create_table(&self, schema: TableSchema) -> Result<()> {
        schema.validate()?;
        let inner = &self.inner;
        let _m = inner.maintenance.lock();
        let current = inner.state.lock().version.clone();
        if current.tables.contains_key(&schema.name) {
            return Err(Error::TableExists { table: schema.name });
        }
        if current.views.contains_key(&schema.name) || index_owner(&current, &schema.name).is_some()
        {
            return Err(Error::RelationExists { name: schema.name });
        }
        if let Some(name) = schema.index_names().find(|n| {
            current.tables.contains_key(*n)
                || current.views.contains_key(*n)
                || index_owner(&current, n).is_some()
        }) {
            return Err(Error::RelationExists {
                name: name.to_owned(),
            });
        }
        let mut next = (*current).clone();
        let id = next.next_table_id;
        next.next_table_id += 1;
        next.tables.insert(
            schema.name.clone(),
            Arc::new(TableState {
                id,
                schema,
                partitions: BTreeMap::new(),
                cold: BTreeMap::new(),
            }),
        );
        next.persist(&inner.config.dir)?;
        inner.state.lock().version = Arc::new(next);
        Ok(())
    }

    /// Adds a column to a table (`ALTER TABLE ... ADD COLUMN`). Durable when this returns.
    /// Rows already written, in memtables or segments, read the new column as NULL; writes
    /// may use it as soon as this returns.
    /// `sql` is the column's SQL declaration, kept in the schema for the SQL layer.
    pub fn add_column(&self, table: &str, column: NewColumn, sql: Option<SqlColumn>) -> Result<()> {
        let inner = &self.inner;
        let _m = inner.maintenance.lock();
        let current = inner.state.lock().version.clone();
        let state = current.table(table)?;
        let schema = state.schema.with_column(&column, sql)?;
        let mut next = (*current).clone();
        next.tables.insert(
            table.to_owned(),
            Arc::new(TableState {
                id: state.id,
                schema,
                partitions: state.partitions.clone(),
                cold: state.cold.clone(),
            }),
        );
        next.persist(&inner.config.dir)?;
        // Writes insert under the state lock with the schema of the version they find there,
        // so switching the version and widening the active memtables in one critical
        // section means no write can land in a memtable that lacks the column.
        let mut st = inner.state.lock();
        let mut added = 0;
        for ((id, _), mem) in st.active.iter_mut() {
            if *id == state.id {
                match &column {
                    NewColumn::Tag(tag) => mem.add_tag(tag),
                    NewColumn::Field(f) => added += mem.add_field(&f.name, f.ty),
                }
            }
        }
        st.active_bytes += added;
        st.version = Arc::new(next);
        Ok(())
    }

    /// Drops a table (`DROP TABLE`). Durable when this returns. Its memtables are discarded,
    /// its WAL records are ignored from now on (they name the dropped table's id), and its
    /// segment files are deleted once no running scan uses them.
    pub fn drop_table(&self, table: &str) -> Result<()> {
        let inner = &self.inner;
        let _m = inner.maintenance.lock();
        let current = inner.state.lock().version.clone();
        if current.views.contains_key(table) {
            return Err(Error::WrongObjectType {
                name: table.to_owned(),
                expected: "a table",
            });
        }
        let state = Arc::clone(current.table(table)?);
        let mut next = (*current).clone();
        next.tables.remove(table);
        // Cold objects are deleted below; until that succeeds the catalog remembers them.
        next.cold_garbage
            .extend(state.cold.values().flatten().map(|c| c.entry.key.clone()));
        next.persist(&inner.config.dir)?;
        {
            let mut st = inner.state.lock();
            let mut freed = 0;
            st.active.retain(|(id, _), mem| {
                let keep = *id != state.id;
                if !keep {
                    freed += mem.bytes();
                }
                keep
            });
            st.active_bytes -= freed;
            if st.active.is_empty() {
                st.active_since = None;
            }
            st.version = Arc::new(next);
        }
        for segments in state.partitions.values() {
            for s in segments {
                s.mark_obsolete();
            }
        }
        inner.retire_cold(state.cold.values().flatten());
        inner.jobs.forget_table(state.id);
        inner.memory_freed.notify_all();
        drop(_m);
        // This call's own references must go before the objects can.
        drop((state, current));
        if let Err(e) = inner.collect_cold_garbage() {
            tracing::warn!(table, error = %e, "a dropped table's cold objects are left for a later run");
        }
        Ok(())
    }

    /// Sets or clears (`None`) a table's `cold_after` (nanoseconds). Durable when this
    /// returns; the tiering job acts on it at its next run.
    pub fn set_cold_after(&self, table: &str, cold_after_ns: Option<i64>) -> Result<()> {
        self.alter_options(table, |s| s.cold_after_ns = cold_after_ns)
    }

    /// Sets or clears (`None`) a table's `retention` (nanoseconds). Rows older than
    /// `now - retention` are hidden from scans started after this returns; the retention
    /// job drops the expired partitions at its next run.
    pub fn set_retention(&self, table: &str, retention_ns: Option<i64>) -> Result<()> {
        self.alter_options(table, |s| s.retention_ns = retention_ns)
    }

    /// Sets or clears (`None`) a table's `subject_column` (a tag column).
    pub fn set_subject_column(&self, table: &str, column: Option<String>) -> Result<()> {
        self.alter_options(table, |s| s.subject_column = column)
    }

    /// Changes a table's options in one durable catalog commit (validated first).
    fn alter_options(&self, table: &str, change: impl FnOnce(&mut TableSchema)) -> Result<()> {
        let _m = self.inner.maintenance.lock();
        let current = self.inner.state.lock().version.clone();
        self.commit_schema(&current, table, change)
    }

    /// Commits `table`'s schema as `change` leaves it (validated first); the caller holds
    /// the maintenance lock and read `current` under it.
    fn commit_schema(
        &self,
        current: &Version,
        table: &str,
        change: impl FnOnce(&mut TableSchema),
    ) -> Result<()> {
        let inner = &self.inner;
        let state = current.table(table)?;
        let mut schema = state.schema.clone();
        change(&mut schema);
        schema.validate()?;
        let mut next = current.clone();
        let mut t = (**state).clone();
        t.schema = schema;
        next.tables.insert(table.to_owned(), Arc::new(t));
        next.persist(&inner.config.dir)?;
        inner.state.lock().version = Arc::new(next);
        inner.jobs.wake();
        Ok(())
    }

    /// The schema of a table.
    pub fn table_schema(&self, table: &str) -> Result<TableSchema> {
        let version = self.inner.state.lock().version.clone();
        Ok(version.table(table)?.schema.clone())
    }

    /// Names of all tables.
    /// Creates a view, or with `or_replace` replaces the view of that name. Durable when
    /// this returns. A table of that name is a [`Error::RelationExists`] (or, replacing,
    /// [`Error::WrongObjectType`]); a view without `or_replace` is `RelationExists` too.
    pub fn create_view(&self, view: ViewDef, or_replace: bool) -> Result<()> {
        let inner = &self.inner;
        let _m = inner.maintenance.lock();
        let current = inner.state.lock().version.clone();
        if current.tables.contains_key(&view.name) {
            return Err(if or_replace {
                Error::WrongObjectType {
                    name: view.name,
                    expected: "a view",
                }
            } else {
                Error::RelationExists { name: view.name }
            });
        }
        if (current.views.contains_key(&view.name) && !or_replace)
            || index_owner(&current, &view.name).is_some()
        {
            return Err(Error::RelationExists { name: view.name });
        }
        let mut view = view;
        if let Some(old) = current.views.get(&view.name) {
            // CREATE OR REPLACE VIEW keeps the view's comment, as in PostgreSQL.
            view.comment = view.comment.or_else(|| old.comment.clone());
        }
        let mut next = (*current).clone();
        next.views.insert(view.name.clone(), view);
        next.persist(&inner.config.dir)?;
        inner.state.lock().version = Arc::new(next);
        Ok(())
    }

    /// Drops a view. Durable when this returns. A table of that name is
    /// [`Error::WrongObjectType`]; no relation of that name, [`Error::ViewNotFound`].
    pub fn drop_view(&self, name: &str) -> Result<()> {
        let inner = &self.inner;
        let _m = inner.maintenance.lock();
        let current = inner.state.lock().version.clone();
        if current.tables.contains_key(name) {
            return Err(Error::WrongObjectType {
                name: name.to_owned(),
                expected: "a view",
            });
        }
        if !current.views.contains_key(name) {
            return Err(Error::ViewNotFound {
                view: name.to_owned(),
            });
        }
        let mut next = (*current).clone();
        next.views.remove(name);
        next.persist(&inner.config.dir)?;
        inner.state.lock().version = Arc::new(next);
        Ok(())
    }

    /// Adds an index to `table` (`CREATE INDEX`); `false` if `if_not_exists` and a relation
    /// of that name exists. Durable when this returns.
    pub fn create_index(&self, table: &str, index: IndexDef, if_not_exists: bool) -> Result<bool> {
        let inner = &self.inner;
        let _m = inner.maintenance.lock();
        let current = inner.state.lock().version.clone();
        current.table(table)?;
        if current.tables.contains_key(&index.name)
            || current.views.contains_key(&index.name)
            || index_owner(&current, &index.name).is_some()
        {
            if if_not_exists {
                return Ok(false);
            }
            return Err(Error::RelationExists { name: index.name });
        }
        self.commit_schema(&current, table, |s| s.indexes.push(index))?;
        Ok(true)
    }

    /// Drops an index of `CREATE INDEX` (`DROP INDEX`). A key's index goes with its key
    /// only ([`Error::DependentObjects`]). Durable when this returns.
    pub fn drop_index(&self, name: &str) -> Result<()> {
        let current = self.inner.state.lock().version.clone();
        if current.tables.contains_key(name) || current.views.contains_key(name) {
            return Err(Error::WrongObjectType {
                name: name.to_owned(),
                expected: "an index",
            });
        }
        let table = index_owner(&current, name).ok_or_else(|| Error::IndexNotFound {
            index: name.to_owned(),
        })?;
        let schema = &current.table(&table)?.schema;
        if schema.keys.iter().any(|k| k.name == name) {
            return Err(Error::DependentObjects {
                name: name.to_owned(),
                dependent: format!("constraint {name} on table {table}"),
            });
        }
        self.alter_options(&table, |s| s.indexes.retain(|i| i.name != name))
    }

    /// Sets or clears (`None`) a comment (`COMMENT ON`). Durable when this returns.
    pub fn set_comment(&self, target: &CommentTarget, comment: Option<String>) -> Result<()> {
        match target {
            CommentTarget::Table(table) => self.alter_options(table, |s| s.comment = comment),
            CommentTarget::Column { table, column } => {
                let schema = self.table_schema(table)?;
                if !schema.column_names().any(|c| c == column) {
                    return Err(Error::ColumnNotFound {
                        table: table.clone(),
                        column: column.clone(),
                    });
                }
                self.alter_options(table, |s| match comment {
                    Some(c) => {
                        s.column_comments.insert(column.clone(), c);
                    }
                    None => {
                        s.column_comments.remove(column);
                    }
                })
            }
            CommentTarget::Index(index) => {
                let current = self.inner.state.lock().version.clone();
                let table = index_owner(&current, index).ok_or_else(|| Error::IndexNotFound {
                    index: index.clone(),
                })?;
                self.alter_options(&table, |s| {
                    for k in s.keys.iter_mut().filter(|k| &k.name == index) {
                        k.comment = comment.clone();
                    }
                    for i in s.indexes.iter_mut().filter(|i| &i.name == index) {
                        i.comment = comment.clone();
                    }
                })
            }
            CommentTarget::View(name) => {
                let inner = &self.inner;
                let _m = inner.maintenance.lock();
                let current = inner.state.lock().version.clone();
                let mut view = current
                    .views
                    .get(name)
                    .cloned()
                    .ok_or_else(|| Error::ViewNotFound { view: name.clone() })?;
                view.comment = comment;
                let mut next = (*current).clone();
                next.views.insert(name.clone(), view);
                next.persist(&inner.config.dir)?;
                inner.state.lock().version = Arc::new(next);
                Ok(())
            }
        }
    }

    /// The table whose key or index (`CREATE INDEX`) is named `name`, if one is.
    pub fn index_table(&self, name: &str) -> Option<String> {
        index_owner(&self.inner.state.lock().version, name)
    }

    /// The view named `name`, if there is one.
    pub fn view(&self, name: &str) -> Option<ViewDef> {
        self.inner.state.lock().version.views.get(name).cloned()
    }

    /// Every view's name, sorted.
    pub fn view_names(&self) -> Vec<String> {
        self.inner
            .state
            .lock()
            .version
            .views
            .keys()
            .cloned()
            .collect()
    }

    pub fn table_names(&self) -> Vec<String> {
        self.inner
            .state
            .lock()
            .version
            .tables
            .keys()
            .cloned()
            .collect()
    }
}
