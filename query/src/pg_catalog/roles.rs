//! `pg_roles`, `pg_user` and `pg_authid` from the users the server was configured with
//! (psql's `\du`, DBeaver's and pgJDBC's role lists). Strata has no `CREATE ROLE` yet: every
//! configured user is a login role; the first configured superuser is the bootstrap
//! superuser, OID 10, which owns every relation and the database (as `relowner` and `datdba`
//! say); the others get OIDs from 16384 in configuration order.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Int32Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::error::Result as DfResult;
use parking_lot::RwLock;

/// A configured user as the catalog shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    pub name: String,
    pub superuser: bool,
}

/// The roles there are, shared by every session; set once the server has read its
/// configuration ([`crate::QueryEngine::set_roles`]).
#[derive(Debug, Clone, Default)]
pub struct Roles(Arc<RwLock<Vec<RoleInfo>>>);

/// The bootstrap superuser's OID, as in PostgreSQL.
pub const BOOTSTRAP_OID: i32 = 10;
/// The first OID PostgreSQL gives objects made after initdb.
const FIRST_NORMAL_OID: i32 = 16384;

impl Roles {
    pub fn set(&self, roles: Vec<RoleInfo>) {
        *self.0.write() = roles;
    }

    /// Each role with its OID.
    pub fn with_oids(&self) -> Vec<(i32, RoleInfo)> {
        let roles = self.0.read().clone();
        let bootstrap = roles.iter().position(|r| r.superuser);
        let mut next = FIRST_NORMAL_OID;
        roles
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let oid = if Some(i) == bootstrap {
                    BOOTSTRAP_OID
                } else {
                    next += 1;
                    next - 1
                };
                (oid, r)
            })
            .collect()
    }

    /// Role names by OID (`pg_get_userbyid`).
    pub fn names(&self) -> HashMap<i32, String> {
        self.with_oids()
            .into_iter()
            .map(|(oid, r)| (oid, r.name))
            .collect()
    }

    /// The table `name` (`pg_roles`, `pg_user`, `pg_authid`), or `None` for another name.
    pub fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let roles = self.with_oids();
        let n = roles.len();
        let names: ArrayRef = Arc::new(
            roles
                .iter()
                .map(|(_, r)| Some(r.name.as_str()))
                .collect::<StringArray>(),
        );
        let oids: ArrayRef = Arc::new(Int32Array::from_iter_values(roles.iter().map(|(o, _)| *o)));
        let superuser: ArrayRef = Arc::new(
            roles
                .iter()
                .map(|(_, r)| Some(r.superuser))
                .collect::<BooleanArray>(),
        );
        let flag = |v: bool| -> ArrayRef { Arc::new(BooleanArray::from(vec![v; n])) };
        let masked: ArrayRef = Arc::new(StringArray::from(vec![Some("********"); n]));
        let no_text: ArrayRef = Arc::new(StringArray::from(vec![None::<&str>; n]));
        let connlimit: ArrayRef = Arc::new(Int32Array::from(vec![-1; n]));
        let valid_until: ArrayRef =
            Arc::new(TimestampMicrosecondArray::from(vec![None::<i64>; n]).with_timezone("UTC"));
        let config: ArrayRef = {
            let mut b = ListBuilder::new(StringBuilder::new());
            for _ in 0..n {
                b.append_null();
            }
            Arc::new(b.finish())
        };
        let oid_field = |name: &str| {
            Field::new(name, DataType::Int32, false).with_metadata(HashMap::from([(
                datafusion_pg_catalog::pg_catalog::oid_field::OID_ALIAS_KEY.to_owned(),
                "oid".to_owned(),
            )]))
        };
        let bool_field = |name: &str| Field::new(name, DataType::Boolean, true);
        let text_field = |name: &str| Field::new(name, DataType::Utf8, true);
        let until_field = |name: &str| {
            Field::new(
                name,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            )
        };
        let config_field = |name: &str| {
            Field::new(
                name,
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            )
        };
        let (fields, columns): (Vec<Field>, Vec<ArrayRef>) = match name {
            "pg_roles" => [
                (text_field("rolname"), names),
                (bool_field("rolsuper"), superuser),
                (bool_field("rolinherit"), flag(true)),
                (bool_field("rolcreaterole"), flag(false)),
                (bool_field("rolcreatedb"), flag(false)),
                (bool_field("rolcanlogin"), flag(true)),
                (bool_field("rolreplication"), flag(false)),
                (Field::new("rolconnlimit", DataType::Int32, true), connlimit),
                (text_field("rolpassword"), masked),
                (until_field("rolvaliduntil"), valid_until),
                (bool_field("rolbypassrls"), flag(false)),
                (config_field("rolconfig"), config),
                (oid_field("oid"), oids),
            ]
            .into_iter()
            .unzip(),
            "pg_user" => [
                (text_field("usename"), names),
                (oid_field("usesysid"), oids),
                (bool_field("usecreatedb"), flag(false)),
                (bool_field("usesuper"), superuser),
                (bool_field("userepl"), flag(false)),
                (bool_field("usebypassrls"), flag(false)),
                (text_field("passwd"), masked),
                (until_field("valuntil"), valid_until),
                (config_field("useconfig"), config),
            ]
            .into_iter()
            .unzip(),
            // Passwords live in the server's configuration, not here: NULL, as PostgreSQL
            // shows a role without a password.
            "pg_authid" => [
                (oid_field("oid"), oids),
                (text_field("rolname"), names),
                (bool_field("rolsuper"), superuser),
                (bool_field("rolinherit"), flag(true)),
                (bool_field("rolcreaterole"), flag(false)),
                (bool_field("rolcreatedb"), flag(false)),
                (bool_field("rolcanlogin"), flag(true)),
                (bool_field("rolreplication"), flag(false)),
                (bool_field("rolbypassrls"), flag(false)),
                (Field::new("rolconnlimit", DataType::Int32, true), connlimit),
                (text_field("rolpassword"), no_text),
                (until_field("rolvaliduntil"), valid_until),
            ]
            .into_iter()
            .unzip(),
            _ => return Ok(None),
        };
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        Ok(Some(Arc::new(MemTable::try_new(
            schema,
            vec![vec![batch]],
        )?)))
    }
}

/// The tables [`Roles::table`] makes.
pub const TABLES: &[&str] = &["pg_roles", "pg_user", "pg_authid"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_superuser_is_the_bootstrap_role() {
        let roles = Roles::default();
        roles.set(vec![
            RoleInfo {
                name: "reader".into(),
                superuser: false,
            },
            RoleInfo {
                name: "admin".into(),
                superuser: true,
            },
            RoleInfo {
                name: "other".into(),
                superuser: false,
            },
        ]);
        let oids: Vec<(i32, String)> = roles
            .with_oids()
            .into_iter()
            .map(|(o, r)| (o, r.name))
            .collect();
        assert_eq!(
            oids,
            [
                (16384, "reader".to_owned()),
                (10, "admin".to_owned()),
                (16385, "other".to_owned())
            ]
        );
        for t in TABLES {
            assert!(roles.table(t).unwrap().is_some(), "{t}");
        }
        assert!(roles.table("pg_class").unwrap().is_none());
    }
}
