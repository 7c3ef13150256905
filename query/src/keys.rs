//! `PRIMARY KEY` and `UNIQUE` as a time-series table means them.
//!
//! A time-series table keeps one row per point: its series key (the tag columns) and its
//! time. That is the only key such a table can have, so a `PRIMARY KEY` or `UNIQUE`
//! constraint must name exactly those columns (in any order); a key declared without
//! `WITH (tags = ...)` chooses the tags: `PRIMARY KEY (host, region, ts)` makes `host` and
//! `region` the tags and every other column a field. A row with the key of an earlier one
//! replaces it (last write wins) rather than failing with 23505 as PostgreSQL's would.
//! Any other key, and any key on a table without a time column (which keeps every row),
//! fails with 0A000 saying what a key can be. Key columns of a `PRIMARY KEY` are `NOT
//! NULL`, as in PostgreSQL. Names follow PostgreSQL: `<table>_pkey`, `<table>_<cols>_key`.

use datafusion::sql::sqlparser::ast::{self, ColumnOption, TableConstraint};
use strata_storage::KeyDef;

use crate::ddl::ident_name;
use crate::error::{QueryError, Result};

/// A key as `CREATE TABLE` declares it, before its meaning is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub name: Option<String>,
    pub primary: bool,
    pub columns: Vec<String>,
}

/// The keys of a `CREATE TABLE`: column options (`id text PRIMARY KEY`) and table
/// constraints (`PRIMARY KEY (a, b)`, `CONSTRAINT k UNIQUE (a, b)`). Foreign keys and
/// `CHECK` fail with 0A000.
pub fn declared(ct: &ast::CreateTable) -> Result<Vec<KeySpec>> {
    let mut keys = Vec::new();
    for def in &ct.columns {
        for o in &def.options {
            let primary = match &o.option {
                ColumnOption::PrimaryKey(_) => true,
                ColumnOption::Unique(_) => false,
                _ => continue,
            };
            keys.push(KeySpec {
                name: o.name.as_ref().map(ident_name),
                primary,
                columns: vec![ident_name(&def.name)],
            });
        }
    }
    for c in &ct.constraints {
        let (name, primary, columns) = match c {
            TableConstraint::PrimaryKey(k) => (&k.name, true, &k.columns),
            TableConstraint::Unique(k) => (&k.name, false, &k.columns),
            TableConstraint::ForeignKey(_) => {
                return Err(QueryError::Unsupported("foreign keys".into()))
            }
            TableConstraint::Check(_) => {
                return Err(QueryError::Unsupported("CHECK constraints".into()))
            }
            other => {
                return Err(QueryError::Unsupported(format!(
                    "the table constraint {other}"
                )))
            }
        };
        let columns = columns
            .iter()
            .map(|c| match &c.column.expr {
                ast::Expr::Identifier(i) => Ok(ident_name(i)),
                other => Err(QueryError::Unsupported(format!(
                    "a key on the expression {other}"
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        keys.push(KeySpec {
            name: name.as_ref().map(ident_name),
            primary,
            columns,
        });
    }
    if keys.iter().filter(|k| k.primary).count() > 1 {
        return Err(QueryError::InvalidDefinition(format!(
            "multiple primary keys for table \"{}\" are not allowed",
            ct.name
        )));
    }
    Ok(keys)
}

/// What the keys say of a time-series table whose time column is `time` and whose text
/// columns are `text`: the tags they make (`None` when there is no key), after checking
/// that each key is the series key and time. `tags` are the tags `WITH (tags = ...)`
/// gave, if it did.
pub fn series_key(
    table: &str,
    keys: &[KeySpec],
    time: &str,
    text: &[String],
    tags: Option<&[String]>,
) -> Result<Option<Vec<String>>> {
    let Some(first) = keys.iter().find(|k| k.primary).or(keys.first()) else {
        return Ok(None);
    };
    // Read with QueryError::Unsupported's " is not supported" after it.
    let explain = |k: &KeySpec, why: String| {
        QueryError::Unsupported(format!(
            "{} ({}) on table \"{table}\": {why}. A time-series table's one key is its series key (text columns) with its time column \"{time}\"; any other key",
            if k.primary { "PRIMARY KEY" } else { "UNIQUE" },
            k.columns.join(", ")
        ))
    };
    let mut chosen: Vec<String> = Vec::new();
    for c in &first.columns {
        if c == time || chosen.contains(c) {
            continue;
        }
        if !text.contains(c) {
            return Err(explain(
                first,
                format!("column \"{c}\" is not a text column"),
            ));
        }
        chosen.push(c.clone());
    }
    let tags = tags.map_or(chosen, <[String]>::to_vec);
    for k in keys {
        if !is_key(&tags, time, &k.columns) {
            let why = if !k.columns.iter().any(|c| c == time) {
                "it leaves out the time column".to_owned()
            } else {
                format!("the series key is ({})", tags.join(", "))
            };
            return Err(explain(k, why));
        }
    }
    Ok(Some(tags))
}

/// Whether `columns` (in any order) are exactly the tags `tags` and the time column `time`.
fn is_key(tags: &[String], time: &str, columns: &[String]) -> bool {
    let mut want: Vec<&str> = tags.iter().map(String::as_str).collect();
    want.push(time);
    want.sort_unstable();
    let mut got: Vec<&str> = columns.iter().map(String::as_str).collect();
    got.sort_unstable();
    got.dedup();
    got == want
}

/// Whether `columns` are `schema`'s key: its series key and time column.
pub(crate) fn is_series_key(schema: &strata_storage::TableSchema, columns: &[String]) -> bool {
    is_key(&schema.tags, &schema.time_column, columns)
}

/// The stored keys, named as PostgreSQL names them when the statement did not.
pub fn key_defs(table: &str, keys: &[KeySpec]) -> Vec<KeyDef> {
    keys.iter()
        .map(|k| KeyDef {
            name: k.name.clone().unwrap_or_else(|| {
                if k.primary {
                    format!("{table}_pkey")
                } else {
                    format!("{table}_{}_key", k.columns.join("_"))
                }
            }),
            primary: k.primary,
            columns: k.columns.clone(),
            comment: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(primary: bool, columns: &[&str]) -> KeySpec {
        KeySpec {
            name: None,
            primary,
            columns: columns.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn a_key_is_the_series_key_and_time() {
        let text = ["host".to_owned(), "region".to_owned(), "note".to_owned()];
        let pk = key(true, &["host", "region", "ts"]);
        assert_eq!(
            series_key("cpu", std::slice::from_ref(&pk), "ts", &text, None).unwrap(),
            Some(vec!["host".to_owned(), "region".to_owned()])
        );
        // A UNIQUE of the same columns in another order agrees.
        let uq = key(false, &["ts", "region", "host"]);
        assert!(series_key("cpu", &[pk.clone(), uq], "ts", &text, None).is_ok());
        // Time alone: no tags, one row per time.
        assert_eq!(
            series_key("cpu", &[key(true, &["ts"])], "ts", &text, None).unwrap(),
            Some(vec![])
        );
        for bad in [
            vec![key(true, &["host"])],
            vec![key(true, &["v", "ts"])],
            vec![pk.clone(), key(false, &["host", "ts"])],
        ] {
            let e = series_key("cpu", &bad, "ts", &text, None).unwrap_err();
            assert_eq!(e.sqlstate(), "0A000", "{e}");
        }
        // WITH (tags = ...) decides; the key must agree.
        let tags = ["host".to_owned()];
        assert!(series_key("cpu", &[pk], "ts", &text, Some(&tags)).is_err());
        assert!(series_key(
            "cpu",
            &[key(true, &["ts", "host"])],
            "ts",
            &text,
            Some(&tags)
        )
        .is_ok());
        assert_eq!(series_key("cpu", &[], "ts", &text, None).unwrap(), None);
    }

    #[test]
    fn keys_are_named_as_postgresql_names_them() {
        let defs = key_defs(
            "cpu",
            &[key(true, &["host", "ts"]), key(false, &["ts", "host"])],
        );
        assert_eq!(defs[0].name, "cpu_pkey");
        assert_eq!(defs[1].name, "cpu_ts_host_key");
    }
}
