//! Strata's storage engine (work in progress: codecs first).

mod codec;
