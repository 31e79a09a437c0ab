//! The daemon-PMDA loop: serve any Pmda to a real pmcd over stdin/stdout (being built: issue 5).
