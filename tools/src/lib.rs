//! Strata tools: data generators for benchmarks and tests (today the TSBS cpu-only data
//! set, [`tsbs`]), with load drivers and inspection tools to come.
//!
//! Everything here is deterministic for a given seed, so a benchmark or a test can
//! regenerate exactly the data another run used.

pub mod tsbs;
