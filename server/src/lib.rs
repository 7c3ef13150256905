//! The `strata` server: configuration, the PostgreSQL wire protocol, HTTP line-protocol
//! ingestion, authentication, audit, background jobs and shutdown (see `shared/DESIGN.md`,
//! "Wire protocols" and "Operating").
//!
//! Empty until the server issue builds it; the storage engine is usable as a library
//! (`strata-storage`) meanwhile.
