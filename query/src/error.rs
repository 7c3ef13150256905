//! Errors of the SQL layer and the one place that maps every error, ours, the storage
//! engine's and DataFusion's, to a PostgreSQL SQLSTATE.

use datafusion::common::{Column, SchemaError};
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::tokenizer::Location;
use strata_storage::Error as StorageError;

/// Errors of the SQL layer. Each carries what a client needs to fix its statement.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A feature Strata does not have (yet): SQLSTATE 0A000.
    #[error("{0} is not supported")]
    Unsupported(String),
    #[error("syntax error: {0}")]
    Syntax(String),
    /// 42601 for a statement that parses but breaks a rule PostgreSQL checks after parsing,
    /// in PostgreSQL's words: "INSERT has more expressions than target columns".
    #[error("{0}")]
    SyntaxRule(String),
    #[error("relation \"{0}\" does not exist")]
    UndefinedTable(String),
    #[error("relation \"{0}\" already exists")]
    DuplicateTable(String),
    #[error("column \"{column}\" of relation \"{table}\" does not exist")]
    UndefinedColumn { table: String, column: String },
    #[error("column \"{column}\" of relation \"{table}\" already exists")]
    DuplicateColumn { table: String, column: String },
    #[error(
        "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"
    )]
    NotNullViolation { table: String, column: String },
    #[error(
        "null value in column \"{column}\" of relation \"{table}\" violates its retention: a table with a retention keeps only rows with a time"
    )]
    NullTimeWithRetention { table: String, column: String },
    #[error("invalid table definition: {0}")]
    InvalidDefinition(String),
    #[error("{0}")]
    InvalidObjectDefinition(String),
    #[error("unrecognized configuration parameter \"{0}\"")]
    UnknownSetting(String),
    #[error("parameter \"{0}\" cannot be changed")]
    ReadOnlySetting(String),
    #[error("invalid value for parameter \"{name}\": \"{value}\"")]
    InvalidSetting { name: String, value: String },
    #[error("{0}")]
    InvalidText(String),
    /// A value longer than its `varchar(n)` / `char(n)` (22001).
    #[error("value too long for type {0}")]
    StringTooLong(String),
    #[error("{0}")]
    DatatypeMismatch(String),
    /// Date or time text PostgreSQL's input rules do not read (22007).
    #[error("{0}")]
    InvalidDatetimeFormat(String),
    #[error("{0}")]
    OutOfRange(String),
    /// A function argument outside its domain (22023).
    #[error("{0}")]
    InvalidParameterValue(String),
    /// A NULL where the function forbids one (22004).
    #[error("{0}")]
    NullValueNotAllowed(String),
    #[error("{0}")]
    TooComplex(String),
    /// `CALL` of a procedure that does not exist (42883), e.g. `strata.no_such(integer)`.
    #[error("procedure {0} does not exist")]
    UndefinedProcedure(String),
    /// A function that does not exist, or none of that name taking these argument types
    /// (42883), e.g. `lower(bigint, bigint)`.
    #[error("function {0} does not exist")]
    UndefinedFunction(String),
    /// An operator that does not exist for its operand types (42883), e.g. `text + bigint`.
    #[error("operator does not exist: {0}")]
    UndefinedOperator(String),
    /// A column reference that names no column in scope (42703), as written: `"nope"`, or
    /// `cpu.nope` when qualified (PostgreSQL quotes only the bare form).
    #[error("column {0} does not exist")]
    UndefinedColumnRef(String),
    /// Types no function or operator of that name takes, found by DataFusion's type
    /// coercion after planning (42883); the message is DataFusion's.
    #[error("{0}")]
    NoMatchingSignature(String),
    #[error("column \"{0}\" specified more than once")]
    DuplicateColumnName(String),
    #[error("column reference \"{0}\" is ambiguous")]
    AmbiguousColumn(String),
    /// A column outside an aggregate in a grouped query (42803).
    #[error(
        "column \"{0}\" must appear in the GROUP BY clause or be used in an aggregate function"
    )]
    Grouping(String),
    #[error("prepared statement \"{0}\" does not exist")]
    UndefinedPreparedStatement(String),
    #[error("prepared statement \"{0}\" already exists")]
    DuplicatePreparedStatement(String),
    #[error("{0}")]
    BadCopyFormat(String),
    #[error("{0}")]
    InvalidBinary(String),
    #[error("permission denied: {0}")]
    InsufficientPrivilege(String),
    #[error("\"{0}\" is not a table")]
    WrongObjectType(String),
    /// A statement other than the end of a transaction block after an error in it (25P02).
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    InFailedTransaction,
    /// A write in a `READ ONLY` transaction (25006), naming the statement.
    #[error("cannot execute {0} in a read-only transaction")]
    ReadOnlyTransaction(String),
    /// `SAVEPOINT` and friends outside a transaction block (25P01).
    #[error("{0} can only be used in transaction blocks")]
    NoActiveTransaction(String),
    #[error("savepoint \"{0}\" does not exist")]
    UndefinedSavepoint(String),
    /// `FETCH`, `MOVE` or `CLOSE` of a cursor that does not exist (34000).
    #[error("cursor \"{0}\" does not exist")]
    UndefinedCursor(String),
    /// `DECLARE` of a name a cursor already has (42P03).
    #[error("cursor \"{0}\" already exists")]
    DuplicateCursor(String),
    /// A backward move of a cursor declared without `SCROLL` (55000).
    #[error("cursor can only scan forward")]
    CursorForwardOnly,
    /// A cursor whose last `FETCH` failed or was interrupted (55000), as PostgreSQL's
    /// failed portal.
    #[error("portal \"{0}\" cannot be run")]
    CursorFailed(String),
    /// A `SCROLL` cursor would keep more rows than its bound (54000).
    #[error("SCROLL cursor \"{name}\" would keep more than {limit} bytes of rows; declare it NO SCROLL or fetch less")]
    CursorTooLarge { name: String, limit: usize },
    /// A transaction's uncommitted writes would pass their bound (53200).
    #[error("transaction holds more than {limit} bytes of uncommitted writes (max_transaction_bytes); COMMIT more often or write outside a transaction block")]
    TransactionTooLarge { limit: usize },
    /// A division by zero Strata computes itself (22012).
    #[error("division by zero")]
    DivisionByZero,
    /// A date or time field out of its range (22008).
    #[error("{0}")]
    DatetimeOverflow(String),
    /// A stored value that cannot be what its column holds (XX001).
    #[error("stored data is corrupt: {0}")]
    DataCorrupted(String),
    #[error("canceling statement due to user request")]
    Canceled,
    #[error("canceling statement due to statement timeout")]
    StatementTimeout,
    /// An error at a place in the statement's text: clients show PostgreSQL's `position`.
    #[error("{error}")]
    At {
        error: Box<QueryError>,
        location: Location,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    DataFusion(Box<DataFusionError>),
}

impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> Self {
        match e {
            // Our own errors travel through DataFusion as `External`; unwrap them so that
            // the SQLSTATE is decided by the original.
            DataFusionError::External(inner) => match inner.downcast::<QueryError>() {
                Ok(q) => *q,
                Err(inner) => match inner.downcast::<StorageError>() {
                    Ok(s) => QueryError::Storage(*s),
                    Err(inner) => {
                        QueryError::DataFusion(Box::new(DataFusionError::External(inner)))
                    }
                },
            },
            DataFusionError::SchemaError(s, _) => QueryError::from(*s),
            // A diagnostic carries where in the text the error is.
            DataFusionError::Diagnostic(d, inner) => {
                let error = QueryError::from(*inner);
                match d.span {
                    Some(span) => error.at(Location::new(span.start.line, span.start.column)),
                    None => error,
                }
            }
            DataFusionError::Context(context, inner) => {
                let inner = QueryError::from(*inner);
                // The analyzer's type coercion failing on a planned expression: operand or
                // argument types no operator or function takes, as 42883 in PostgreSQL.
                match inner {
                    QueryError::DataFusion(d)
                        if context == "type_coercion"
                            && matches!(
                                d.as_ref(),
                                DataFusionError::Plan(_) | DataFusionError::Internal(_)
                            ) =>
                    {
                        QueryError::NoMatchingSignature(clean_message(&d.to_string()))
                    }
                    other => other,
                }
            }
            DataFusionError::Shared(inner) => match std::sync::Arc::try_unwrap(inner) {
                Ok(inner) => QueryError::from(inner),
                Err(shared) => QueryError::DataFusion(Box::new(DataFusionError::Shared(shared))),
            },
            DataFusionError::Collection(mut errs) if !errs.is_empty() => {
                QueryError::from(errs.swap_remove(0))
            }
            other => QueryError::DataFusion(Box::new(other)),
        }
    }
}

impl From<SchemaError> for QueryError {
    fn from(e: SchemaError) -> Self {
        match e {
            SchemaError::FieldNotFound { field, .. } => {
                let error = QueryError::UndefinedColumnRef(column_as_written(&field));
                match field.spans().first() {
                    Some(span) => error.at(Location::new(span.start.line, span.start.column)),
                    None => error,
                }
            }
            SchemaError::AmbiguousReference { field } => {
                QueryError::AmbiguousColumn(field.name().to_owned())
            }
            SchemaError::DuplicateQualifiedField { name, .. }
            | SchemaError::DuplicateUnqualifiedField { name } => {
                QueryError::DuplicateColumnName(name)
            }
        }
    }
}

/// A column as PostgreSQL names it in "does not exist": `"v"`, or `cpu.v` when qualified.
fn column_as_written(c: &Column) -> String {
    match &c.relation {
        Some(r) => format!("{}.{}", r.table(), c.name),
        None => format!("\"{}\"", c.name),
    }
}

/// DataFusion prefixes its messages with the error kind; clients want the message.
pub fn clean_message(m: &str) -> String {
    let mut s = m;
    for prefix in [
        "Error during planning: ",
        "Execution error: ",
        "Schema error: ",
        "SQL error: ",
        "This feature is not implemented: ",
        "Arrow error: ",
        "External error: ",
        "Internal error: ",
        "Invalid argument error: ",
        "Cast error: ",
        "Parser error: ",
        "Compute error: ",
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
        }
    }
    // DataFusion's hint for reporting internal errors upstream is not ours to show.
    let s = s
        .split(".\nThis issue was likely caused by a bug in DataFusion")
        .next()
        .unwrap_or(s);
    s.trim().to_owned()
}

impl From<arrow::error::ArrowError> for QueryError {
    fn from(e: arrow::error::ArrowError) -> Self {
        QueryError::DataFusion(Box::new(e.into()))
    }
}

impl From<QueryError> for DataFusionError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::DataFusion(d) => *d,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = QueryError> = std::result::Result<T, E>;

impl QueryError {
    /// This error placed at `location` in the statement's text (1-based line and column);
    /// a location of line 0 is sqlparser's "unknown" and leaves the error as it is.
    pub fn at(self, location: Location) -> QueryError {
        match self {
            QueryError::At { .. } => self,
            error if location.line == 0 => error,
            error => QueryError::At {
                error: Box::new(error),
                location,
            },
        }
    }

    /// PostgreSQL's `position` of this error in `sql`, the text the statement was parsed
    /// from: a 1-based offset in characters.
    pub fn position(&self, sql: &str) -> Option<usize> {
        let QueryError::At { location, .. } = self else {
            return None;
        };
        let line = usize::try_from(location.line).ok()?;
        let column = usize::try_from(location.column).ok()?;
        let before: usize = sql
            .split('\n')
            .take(line.checked_sub(1)?)
            .map(|l| l.chars().count() + 1)
            .sum();
        Some(before + column)
    }

    /// The error without its place in the text, owned.
    pub fn into_unplaced(self) -> QueryError {
        match self {
            QueryError::At { error, .. } => error.into_unplaced(),
            other => other,
        }
    }

    /// The error without its place in the text.
    pub fn unplaced(&self) -> &QueryError {
        match self {
            QueryError::At { error, .. } => error.unplaced(),
            other => other,
        }
    }

    /// The PostgreSQL error code clients see.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            QueryError::Unsupported(_) => "0A000",
            QueryError::Syntax(_) | QueryError::SyntaxRule(_) => "42601",
            QueryError::UndefinedTable(_) => "42P01",
            QueryError::DuplicateTable(_) => "42P07",
            QueryError::UndefinedColumn { .. } => "42703",
            QueryError::DuplicateColumn { .. } => "42701",
            QueryError::NotNullViolation { .. } | QueryError::NullTimeWithRetention { .. } => {
                "23502"
            }
            QueryError::InvalidDefinition(_) => "42P16",
            QueryError::InvalidObjectDefinition(_) => "42P17",
            QueryError::UnknownSetting(_) => "42704",
            QueryError::InvalidSetting { .. } => "22023",
            QueryError::ReadOnlySetting(_) => "55P02",
            QueryError::InvalidText(_) => "22P02",
            QueryError::StringTooLong(_) => "22001",
            QueryError::DatatypeMismatch(_) => "42804",
            QueryError::InvalidDatetimeFormat(_) => "22007",
            QueryError::OutOfRange(_) => "22003",
            QueryError::InvalidParameterValue(_) => "22023",
            QueryError::NullValueNotAllowed(_) => "22004",
            QueryError::TooComplex(_) => "54001",
            QueryError::UndefinedProcedure(_)
            | QueryError::UndefinedFunction(_)
            | QueryError::UndefinedOperator(_)
            | QueryError::NoMatchingSignature(_) => "42883",
            QueryError::UndefinedColumnRef(_) => "42703",
            QueryError::DuplicateColumnName(_) => "42701",
            QueryError::AmbiguousColumn(_) => "42702",
            QueryError::Grouping(_) => "42803",
            QueryError::At { error, .. } => error.sqlstate(),
            QueryError::UndefinedPreparedStatement(_) => "26000",
            QueryError::DuplicatePreparedStatement(_) => "42P05",
            QueryError::BadCopyFormat(_) => "22P04",
            QueryError::InvalidBinary(_) => "22P03",
            QueryError::InsufficientPrivilege(_) => "42501",
            QueryError::WrongObjectType(_) => "42809",
            QueryError::InFailedTransaction => "25P02",
            QueryError::ReadOnlyTransaction(_) => "25006",
            QueryError::NoActiveTransaction(_) => "25P01",
            QueryError::UndefinedSavepoint(_) => "3B001",
            QueryError::UndefinedCursor(_) => "34000",
            QueryError::DuplicateCursor(_) => "42P03",
            QueryError::CursorForwardOnly | QueryError::CursorFailed(_) => "55000",
            QueryError::DataCorrupted(_) => "XX001",
            QueryError::DatetimeOverflow(_) => "22008",
            QueryError::DivisionByZero => "22012",
            QueryError::CursorTooLarge { .. } => "54000",
            QueryError::TransactionTooLarge { .. } => "53200",
            QueryError::Canceled | QueryError::StatementTimeout => "57014",
            QueryError::Storage(e) => storage_sqlstate(e),
            QueryError::DataFusion(e) => datafusion_sqlstate(e),
        }
    }
}

fn storage_sqlstate(e: &StorageError) -> &'static str {
    match e {
        StorageError::TableNotFound { .. } => "42P01",
        StorageError::TableExists { .. } | StorageError::RelationExists { .. } => "42P07",
        StorageError::ViewNotFound { .. } => "42P01",
        // undefined_object, as PostgreSQL's "index ... does not exist".
        StorageError::IndexNotFound { .. } => "42704",
        StorageError::DependentObjects { .. } => "2BP01",
        StorageError::WrongObjectType { .. } => "42809",
        StorageError::ColumnNotFound { .. } => "42703",
        StorageError::ColumnExists { .. } => "42701",
        StorageError::TypeMismatch { .. } => "42804",
        StorageError::ArityMismatch { .. } => "22P04",
        // datetime_field_overflow, as PostgreSQL's "timestamp out of range".
        StorageError::TimeOutOfRange { .. } => "22008",
        StorageError::InvalidSchema { .. } => "42P16",
        // insufficient_resources: retry later.
        StorageError::MemoryLimit { .. } => "53000",
        StorageError::Closed => "57P01",
        // io_error: the disk, or a cold store that cannot be reached or is misconfigured.
        StorageError::Io { .. }
        | StorageError::Wal(_)
        | StorageError::ColdStore { .. }
        | StorageError::ColdStoreConfig { .. } => "58030",
        StorageError::Corruption { .. }
        | StorageError::CorruptWalRecord { .. }
        | StorageError::UnsupportedVersion { .. }
        | StorageError::ColdObject { .. }
        | StorageError::Parquet(_) => "XX001",
        // feature_not_supported: a DELETE condition storage cannot keep as a tombstone.
        StorageError::UnsupportedPredicate { .. } => "0A000",
        // program_limit_exceeded: a DELETE by fields matching too many rows at once.
        StorageError::TooManyPoints { .. } => "54000",
        StorageError::Arrow(_) | StorageError::Internal { .. } => "XX000",
    }
}

/// DataFusion's errors by kind. What a planning error means is decided before it gets here,
/// by [`crate::resolve`] from the statement and the catalog; a planning or execution error
/// it could not explain keeps its class, never a guess from the message.
fn datafusion_sqlstate(e: &DataFusionError) -> &'static str {
    use arrow::error::ArrowError;
    match e {
        DataFusionError::SQL(..) => "42601",
        DataFusionError::NotImplemented(_) => "0A000",
        DataFusionError::ResourcesExhausted(_) => "53200",
        DataFusionError::ArrowError(a, _) => match a.as_ref() {
            ArrowError::CastError(_) | ArrowError::ParseError(_) => "22P02",
            ArrowError::DivideByZero => "22012",
            ArrowError::ArithmeticOverflow(_) => "22003",
            ArrowError::InvalidArgumentError(_) => "22023",
            ArrowError::ComputeError(_) => "22000",
            ArrowError::NotYetImplemented(_) => "0A000",
            ArrowError::MemoryError(_) => "53200",
            ArrowError::ExternalError(inner) => {
                if let Some(q) = inner.downcast_ref::<QueryError>() {
                    q.sqlstate()
                } else {
                    "XX000"
                }
            }
            _ => "XX000",
        },
        // syntax_error_or_access_rule_violation: a statement that cannot be planned.
        DataFusionError::Plan(_) => "42000",
        // data_exception: a function that failed on its input.
        DataFusionError::Execution(_) => "22000",
        DataFusionError::SchemaError(s, _) => match s.as_ref() {
            SchemaError::FieldNotFound { .. } => "42703",
            SchemaError::AmbiguousReference { .. } => "42702",
            SchemaError::DuplicateQualifiedField { .. }
            | SchemaError::DuplicateUnqualifiedField { .. } => "42701",
        },
        DataFusionError::External(inner) => {
            if let Some(q) = inner.downcast_ref::<QueryError>() {
                q.sqlstate()
            } else if let Some(s) = inner.downcast_ref::<StorageError>() {
                storage_sqlstate(s)
            } else {
                "XX000"
            }
        }
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            datafusion_sqlstate(inner)
        }
        DataFusionError::Shared(inner) => datafusion_sqlstate(inner),
        DataFusionError::Collection(errs) => errs.first().map_or("XX000", datafusion_sqlstate),
        _ => "XX000",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_counts_characters_across_lines_from_one() {
        let sql = "SELECT 'é'\nFROM nope";
        let e = QueryError::UndefinedTable("nope".into()).at(Location::new(2, 6));
        assert_eq!(e.position(sql), Some(17));
        assert_eq!(e.sqlstate(), "42P01");
        assert_eq!(e.to_string(), r#"relation "nope" does not exist"#);
        // sqlparser's "no location" leaves the error unplaced.
        let e = QueryError::Syntax("x".into()).at(Location::new(0, 0));
        assert_eq!(e.position(sql), None);
        assert!(matches!(e, QueryError::Syntax(_)));
    }

    #[test]
    fn schema_errors_map_by_kind() {
        let missing = SchemaError::FieldNotFound {
            field: Box::new(Column::new(Some("cpu"), "nope")),
            valid_fields: vec![],
        };
        let e = QueryError::from(DataFusionError::SchemaError(
            Box::new(missing),
            Box::new(None),
        ));
        assert_eq!(e.sqlstate(), "42703");
        assert_eq!(e.to_string(), "column cpu.nope does not exist");
        let bare = SchemaError::FieldNotFound {
            field: Box::new(Column::new_unqualified("nope")),
            valid_fields: vec![],
        };
        assert_eq!(
            QueryError::from(bare).to_string(),
            r#"column "nope" does not exist"#
        );
    }
}
