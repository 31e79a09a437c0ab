//! The Linux kernel agent (domain 60): see issue 3. Being built.
