//! Rate conversion.
