//! Strata tools (data generator arrives with the storage issue).
