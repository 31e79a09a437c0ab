//! The bpftrace agent (domain 151): see issue 4. Being built.
