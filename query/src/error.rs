//! Errors of the SQL layer and the one place that maps every error, ours, the storage
//! engine's and DataFusion's, to a PostgreSQL SQLSTATE.

use datafusion::error::DataFusionError;
use strata_storage::Error as StorageError;

/// Errors of the SQL layer. Each carries what a client needs to fix its statement.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A feature Strata does not have (yet): SQLSTATE 0A000.
    #[error("{0} is not supported")]
    Unsupported(String),
    #[error("syntax error: {0}")]
    Syntax(String),
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
    #[error("{0}")]
    DatatypeMismatch(String),
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
    UndefinedFunction(String),
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
    /// A transaction's uncommitted writes would pass their bound (53200).
    #[error("transaction holds more than {limit} bytes of uncommitted writes (max_transaction_bytes); COMMIT more often or write outside a transaction block")]
    TransactionTooLarge { limit: usize },
    #[error("canceling statement due to user request")]
    Canceled,
    #[error("canceling statement due to statement timeout")]
    StatementTimeout,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    DataFusion(Box<DataFusionError>),
}

impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> Self {
        // Our own errors travel through DataFusion as `External`; unwrap them so that the
        // SQLSTATE is decided by the original.
        match e {
            DataFusionError::External(inner) => match inner.downcast::<QueryError>() {
                Ok(q) => *q,
                Err(inner) => match inner.downcast::<StorageError>() {
                    Ok(s) => QueryError::Storage(*s),
                    Err(inner) => {
                        QueryError::DataFusion(Box::new(DataFusionError::External(inner)))
                    }
                },
            },
            DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
                QueryError::from(*inner)
            }
            DataFusionError::Collection(mut errs) if !errs.is_empty() => {
                QueryError::from(errs.swap_remove(0))
            }
            other => QueryError::DataFusion(Box::new(other)),
        }
    }
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
    /// The PostgreSQL error code clients see.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            QueryError::Unsupported(_) => "0A000",
            QueryError::Syntax(_) => "42601",
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
            QueryError::DatatypeMismatch(_) => "42804",
            QueryError::OutOfRange(_) => "22003",
            QueryError::InvalidParameterValue(_) => "22023",
            QueryError::NullValueNotAllowed(_) => "22004",
            QueryError::TooComplex(_) => "54001",
            QueryError::UndefinedFunction(_) => "42883",
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

/// DataFusion reports most user mistakes as planning errors with a message; the message
/// shapes below are DataFusion's own and are covered by tests over the wire.
fn datafusion_sqlstate(e: &DataFusionError) -> &'static str {
    match e {
        DataFusionError::SQL(..) => "42601",
        DataFusionError::NotImplemented(_) => "0A000",
        DataFusionError::ResourcesExhausted(_) => "53200",
        DataFusionError::ArrowError(a, _) => match a.as_ref() {
            arrow::error::ArrowError::CastError(_) | arrow::error::ArrowError::ParseError(_) => {
                "22P02"
            }
            arrow::error::ArrowError::DivideByZero => "22012",
            arrow::error::ArrowError::ArithmeticOverflow(_) => "22003",
            _ => "XX000",
        },
        DataFusionError::Plan(m) | DataFusionError::Execution(m) => {
            let m = m.as_str();
            if m.contains("table '") && m.contains("not found")
                || m.contains("table") && m.contains("doesn't exist")
            {
                "42P01"
            } else if m.contains("No field named") || m.contains("Schema error: No field") {
                "42703"
            } else if m.contains("Cannot cast")
                || m.contains("Cannot automatically convert")
                || m.contains("Error parsing")
                || m.contains("Unable to parse")
                || m.contains("Cannot parse")
            {
                "22P02"
            } else if m.contains("Invalid function") {
                "42883"
            } else if m.contains("No function matches")
                || m.contains("Coercion from")
                || m.contains("Cannot coerce")
                || m.contains("does not support")
                || m.contains("Cannot infer common")
                || m.contains("cannot be cast")
            {
                "42804"
            } else if m.contains("Divide by zero") {
                "22012"
            } else if m.contains("non-nullable") || m.contains("violates not-null") {
                "23502"
            } else if m.contains("Unsupported") || m.contains("not supported") {
                "0A000"
            } else {
                "42000"
            }
        }
        DataFusionError::SchemaError(s, _) => {
            let m = s.to_string();
            if m.contains("No field named") || m.contains("not found") {
                "42703"
            } else if m.contains("Ambiguous") {
                "42702"
            } else {
                "42000"
            }
        }
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
