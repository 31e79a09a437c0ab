//! The Prometheus/OpenMetrics agent (domain 144): see issue 7. Being built.
