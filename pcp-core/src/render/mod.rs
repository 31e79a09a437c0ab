//! Renderers: pminfo-style text ([`pminfo`]), Prometheus and OpenMetrics
//! text exposition ([`openmetrics`], named by [`names`], whole scrapes in
//! [`exposition`]) and JSON ([`json`]), with numbers written by
//! [`number`].

pub mod exposition;
pub mod json;
pub mod names;
pub mod number;
pub mod openmetrics;
pub mod pminfo;
