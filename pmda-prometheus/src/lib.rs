//! The Prometheus/OpenMetrics agent (domain 144): see issue 7.
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod parse;
