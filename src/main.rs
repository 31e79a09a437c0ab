//! pcp-agent: the host binary.
fn main() {}
