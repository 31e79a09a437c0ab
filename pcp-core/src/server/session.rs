//! One client's conversation with the server, as pmcd 6.0.3 holds it
//! with a libpcp client, independent of any socket: [`Session::greeting`]
//! is what the server says first, [`Session::handle`] takes one whole PDU
//! and leaves the reply (if any) in [`Session::reply`]. The connection
//! code (`conn.rs`) moves bytes; tests and the fuzz target drive a session
//! directly.
//!
//! Phases: the client must first send PDU_CREDS (version 2; the only
//! feature it may ask for is [`PDU_FLAG_CONTAINER`], since this server
//! offers no TLS, SASL or compression), then, if it asked for a container,
//! a PDU_ATTR naming it; then requests. A PDU that does not decode, or one
//! out of place in the handshake, gets PM_ERR_IPC and ends the session; a
//! well-formed request of a kind a client never sends gets PM_ERR_IPC and
//! the session goes on, as pmcd does.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::PmError;
use crate::host::Host;
use crate::indom::Profile;
use crate::pdu::client::{challenge, status_to_v1};
use crate::pdu::{
    attr, decode, decode_header, AttrPdu, CredsPdu, Encoder, ErrorPdu, Pdu, HEADER_LEN,
    PDU_FLAG_CONTAINER, PDU_FLAG_CREDS_REQD, PDU_FLAG_DESCS, PDU_FLAG_HIGHRES, PDU_FLAG_LABELS,
    PDU_VERSION,
};
use crate::pmda::ClientContext;

use super::access::Ops;
use super::state::ServerState;

/// The features this server offers every client: descriptor lists,
/// labels, high-resolution fetches and container names (pmcd 6.0.3 offers
/// the same, plus SASL authentication when built with it).
pub const FEATURES_OFFERED: u32 =
    PDU_FLAG_DESCS | PDU_FLAG_LABELS | PDU_FLAG_HIGHRES | PDU_FLAG_CONTAINER;

/// The longest container name accepted.
const MAX_CONTAINER: usize = 1024;

/// Bounds on what one client may make the server keep.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Instance profiles kept (one per client context number).
    pub max_profiles: usize,
    /// Instance ids kept across all of a client's profiles.
    pub max_profile_insts: usize,
}

impl Default for SessionLimits {
    /// 64 profiles, 65,536 instance ids (256 KiB).
    fn default() -> SessionLimits {
        SessionLimits {
            max_profiles: 64,
            max_profile_insts: 65_536,
        }
    }
}

/// What the connection should do after [`Session::handle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Send [`Session::reply`].
    Reply,
    /// Nothing to send (PROFILE, ATTR, CREDS).
    Quiet,
    /// Send [`Session::reply`] (an error), then close the connection.
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Creds,
    Container,
    Ready,
}

/// One client's state: who it is, what it may do, its profiles.
pub struct Session {
    pub(super) host: Arc<Host>,
    pub(super) state: Arc<ServerState>,
    pub(super) client: ClientContext,
    pub(super) ops: Ops,
    pub(super) limits: SessionLimits,
    phase: Phase,
    pub(super) profiles: HashMap<i32, Profile>,
    profile_insts: HashMap<i32, usize>,
    /// The host's names and metadata generations this client was last told of.
    pub(super) seen: (u64, u64),
    pub(super) out: Vec<u8>,
    pub(super) enc: Encoder,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("client", &self.client)
            .field("ops", &self.ops)
            .field("phase", &self.phase)
            .field("profiles", &self.profiles.len())
            .finish()
    }
}

impl Session {
    /// A session for a client in slot `client.slot` allowed `ops`.
    pub fn new(
        host: Arc<Host>,
        state: Arc<ServerState>,
        client: ClientContext,
        ops: Ops,
        limits: SessionLimits,
    ) -> Session {
        let seen = (host.names_generation(), host.metadata_generation());
        Session {
            host,
            state,
            client,
            ops,
            limits,
            phase: Phase::Creds,
            profiles: HashMap::new(),
            profile_insts: HashMap::new(),
            seen,
            out: Vec::with_capacity(4096),
            enc: Encoder::default(),
        }
    }

    /// Who the client is.
    pub fn client(&self) -> &ClientContext {
        &self.client
    }

    /// The reply left by the last [`Session::handle`] or [`Session::greeting`].
    pub fn reply(&self) -> &[u8] {
        &self.out
    }

    /// The connection acknowledgement: status 0 and the challenge with
    /// [`FEATURES_OFFERED`].
    pub fn greeting(&mut self) -> &[u8] {
        self.out.clear();
        let pdu = Pdu::Error(ErrorPdu {
            code: 0,
            extra: Some(challenge(FEATURES_OFFERED) as i32),
        });
        self.enc.encode(&pdu, 0, &mut self.out);
        self.state.count_out(crate::pdu::types::ERROR);
        &self.out
    }

    /// Handles one whole PDU from the client.
    pub fn handle(&mut self, bytes: &[u8]) -> Outcome {
        if self.out.capacity() > 1 << 20 {
            // One huge reply must not pin its buffer for the connection's life.
            self.out = Vec::with_capacity(4096);
        }
        self.out.clear();
        let ty = decode_header(bytes, usize::MAX).map_or(0, |h| h.ty);
        self.state.count_in(ty);
        let outcome = match decode(bytes) {
            Err(_) => self.fail(PmError::IPC),
            Ok((_, pdu)) => match self.phase {
                Phase::Creds => match pdu {
                    Pdu::Creds(c) => self.creds(&c),
                    _ => self.fail(PmError::IPC),
                },
                Phase::Container => match pdu {
                    Pdu::Attr(a) if a.attr == attr::CONTAINER => self.container(&a),
                    _ => self.fail(PmError::IPC),
                },
                Phase::Ready => self.request(pdu),
            },
        };
        self.count_replies();
        outcome
    }

    fn count_replies(&self) {
        let mut at = 0;
        while let Some(h) = self
            .out
            .get(at..)
            .and_then(|b| decode_header(b, usize::MAX).ok())
        {
            self.state.count_out(h.ty);
            at += (h.len as usize).max(HEADER_LEN);
        }
    }

    /// Appends a PDU_ERROR; the session goes on.
    pub(super) fn error(&mut self, e: PmError) -> Outcome {
        self.enc.error(e.code(), &mut self.out);
        Outcome::Reply
    }

    /// Appends a PDU_ERROR; the session ends.
    fn fail(&mut self, e: PmError) -> Outcome {
        self.out.clear();
        self.enc.error(e.code(), &mut self.out);
        Outcome::Close
    }

    pub(super) fn send(&mut self, pdu: &Pdu) -> Outcome {
        self.enc.encode(pdu, 0, &mut self.out);
        Outcome::Reply
    }

    fn creds(&mut self, c: &CredsPdu) -> Outcome {
        let Some((version, flags)) = c.version_flags() else {
            return self.fail(PmError::IPC);
        };
        if version != PDU_VERSION {
            return self.fail(PmError::IPC);
        }
        // CREDS_REQD echoes a feature we never offer; anything else but a
        // container would need TLS, SASL or compression.
        if flags & !(PDU_FLAG_CONTAINER | PDU_FLAG_CREDS_REQD) != 0 {
            return self.fail(PmError::from_errno(libc::EOPNOTSUPP));
        }
        self.phase = if flags & PDU_FLAG_CONTAINER != 0 {
            Phase::Container
        } else {
            Phase::Ready
        };
        Outcome::Quiet
    }

    fn container(&mut self, a: &AttrPdu) -> Outcome {
        let name = a.text();
        if name.is_empty() || name.len() > MAX_CONTAINER {
            return self.fail(PmError::NOCONTAINER);
        }
        self.state
            .update_client(self.client.slot, |r| r.container = name.clone());
        self.client.container = Some(name);
        self.phase = Phase::Ready;
        Outcome::Quiet
    }

    fn request(&mut self, pdu: Pdu) -> Outcome {
        let store = matches!(pdu, Pdu::Result(_));
        let allowed = if store {
            self.ops.store
        } else {
            self.ops.fetch
        };
        if !allowed && !matches!(pdu, Pdu::Creds(_)) {
            return self.error(PmError::PERMISSION);
        }
        match pdu {
            Pdu::Creds(c) => self.creds(&c),
            Pdu::Profile(p) => self.profile(
                p.ctx,
                p.to_profile(),
                p.entries.iter().map(|e| e.insts.len()).sum(),
            ),
            Pdu::Fetch(f) => self.fetch(&f, false),
            Pdu::HighResFetch(f) => self.fetch(&f, true),
            Pdu::DescReq(pmid) => self.desc(pmid),
            Pdu::DescIds(ids) => self.descs(&ids.pmids),
            Pdu::InstanceReq(r) => self.instance(&r),
            Pdu::TextReq(r) => self.text(r),
            Pdu::LabelReq(r) => self.label(r),
            Pdu::PmnsNames(n) => self.name_to_pmid(&n.names),
            Pdu::PmnsIds(ids) => self.pmid_to_names(&ids.pmids),
            Pdu::PmnsChild(c) => self.children(&c),
            Pdu::PmnsTraverse(t) => self.traverse(&t),
            Pdu::Result(r) => self.store(&r),
            _ => self.error(PmError::IPC),
        }
    }

    /// Keeps the profile for context `ctx`, within the session's limits.
    fn profile(&mut self, ctx: i32, profile: Profile, insts: usize) -> Outcome {
        let others: usize = self
            .profile_insts
            .iter()
            .filter(|(k, _)| **k != ctx)
            .map(|(_, n)| n)
            .sum();
        let new_ctx = !self.profiles.contains_key(&ctx);
        if (new_ctx && self.profiles.len() >= self.limits.max_profiles)
            || others + insts > self.limits.max_profile_insts
        {
            return self.error(PmError::TOOBIG);
        }
        self.profiles.insert(ctx, profile);
        self.profile_insts.insert(ctx, insts);
        Outcome::Quiet
    }
}

/// The acknowledgement refusing a connection (`PM_ERR_PERMISSION`,
/// `PM_ERR_CONNLIMIT`): the status in PCP 1.x numbering, no challenge.
pub fn refusal(e: PmError) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    let pdu = Pdu::Error(ErrorPdu {
        code: status_to_v1(e.code()),
        extra: Some(0),
    });
    Encoder::default().encode(&pdu, 0, &mut out);
    out
}
