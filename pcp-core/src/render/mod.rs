//! Renderers: pminfo-style text ([`pminfo`]), OpenMetrics/Prometheus text
//! exposition ([`openmetrics`]) and JSON ([`json`]) of what a [`crate::Host`]
//! answers.

pub mod json;
pub mod openmetrics;
pub mod pminfo;
