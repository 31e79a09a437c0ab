//! The PDU codec for talking to a real pmcd (being built: issue 5).
