//! What the server knows about itself, shared by its connections and by
//! the `pmcd` agent that publishes it (`pmcd.pdu_in.*`, `pmcd.client.*`,
//! ...): PDU counters, the client table, the loaded agents.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use crate::host::Host;
use crate::pdu::types;
use crate::pmda::Attachment;

/// How often fetches look for new names (agents that grow metrics, such
/// as the prometheus agent on a new source).
const NAMES_REFRESH: Duration = Duration::from_secs(1);

/// Number of PDU type codes (0x7000..=0x7017).
const NTYPES: usize = (types::LAST - types::FIRST + 1) as usize;

/// One connected client, as `pmcd.client.*` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    /// What the client said it is (it stores `pmcd.client.whoami`).
    pub whoami: String,
    /// When it connected.
    pub start: SystemTime,
    /// The container it named, or empty.
    pub container: String,
}

/// What a server publishes about itself.
#[derive(Debug)]
pub struct ServerState {
    pdu_in: [AtomicU64; NTYPES],
    pdu_out: [AtomicU64; NTYPES],
    /// Indexed by client slot (`pmcd.client.*` instance id); `None` free.
    clients: Mutex<Vec<Option<ClientRow>>>,
    agents: Mutex<Vec<(String, u32)>>,
    /// The agents not called in process, by domain.
    attachments: Mutex<Vec<(u32, Attachment)>>,
    registers: Mutex<[i32; 16]>,
    seqnum: AtomicU32,
    last_names_refresh: Mutex<Option<Instant>>,
    /// The agent deadline in seconds (`pmcd.control.timeout`).
    pub timeout_secs: u32,
    /// Whether a unix socket is served.
    pub unix_socket: bool,
    /// The version string of `pmcd.version`.
    pub version: String,
    /// This server's pid.
    pub pid: u32,
}

impl ServerState {
    /// A state with no clients.
    pub fn new(version: &str, timeout_secs: u32, unix_socket: bool) -> ServerState {
        ServerState {
            pdu_in: std::array::from_fn(|_| AtomicU64::new(0)),
            pdu_out: std::array::from_fn(|_| AtomicU64::new(0)),
            clients: Mutex::new(Vec::new()),
            agents: Mutex::new(Vec::new()),
            attachments: Mutex::new(Vec::new()),
            registers: Mutex::new([0; 16]),
            seqnum: AtomicU32::new(0),
            last_names_refresh: Mutex::new(None),
            timeout_secs,
            unix_socket,
            version: version.to_string(),
            pid: std::process::id(),
        }
    }

    /// Counts a PDU received of type `ty`.
    pub fn count_in(&self, ty: u32) {
        if let Some(c) = slot_of(ty).and_then(|i| self.pdu_in.get(i)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a PDU sent of type `ty`.
    pub fn count_out(&self, ty: u32) {
        if let Some(c) = slot_of(ty).and_then(|i| self.pdu_out.get(i)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// PDUs received of type `ty` (None for codes outside PCP's range).
    pub fn pdus_in(&self, ty: u32) -> Option<u64> {
        slot_of(ty).map(|i| self.pdu_in[i].load(Ordering::Relaxed))
    }

    /// PDUs sent of type `ty`.
    pub fn pdus_out(&self, ty: u32) -> Option<u64> {
        slot_of(ty).map(|i| self.pdu_out[i].load(Ordering::Relaxed))
    }

    /// PDUs received in all.
    pub fn total_in(&self) -> u64 {
        self.pdu_in.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// PDUs sent in all.
    pub fn total_out(&self) -> u64 {
        self.pdu_out.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Takes the lowest free client slot (pmcd reuses them the same way).
    pub fn add_client(&self) -> u32 {
        let mut c = self.clients.lock();
        let row = ClientRow {
            whoami: String::new(),
            start: SystemTime::now(),
            container: String::new(),
        };
        match c.iter().position(Option::is_none) {
            Some(i) => {
                c[i] = Some(row);
                i as u32
            }
            None => {
                c.push(Some(row));
                (c.len() - 1) as u32
            }
        }
    }

    /// Frees a client slot.
    pub fn remove_client(&self, slot: u32) {
        let mut c = self.clients.lock();
        if let Some(r) = c.get_mut(slot as usize) {
            *r = None;
        }
        while matches!(c.last(), Some(None)) {
            c.pop();
        }
    }

    /// Changes a client's row.
    pub fn update_client(&self, slot: u32, f: impl FnOnce(&mut ClientRow)) {
        if let Some(Some(r)) = self.clients.lock().get_mut(slot as usize) {
            f(r);
        }
    }

    /// The connected clients by slot.
    pub fn clients(&self) -> Vec<(u32, ClientRow)> {
        self.clients
            .lock()
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.clone().map(|r| (i as u32, r)))
            .collect()
    }

    /// Records the loaded agents (name, domain).
    pub fn set_agents(&self, agents: Vec<(String, u32)>) {
        *self.agents.lock() = agents;
    }

    /// The loaded agents (name, domain).
    pub fn agents(&self) -> Vec<(String, u32)> {
        self.agents.lock().clone()
    }

    /// Records how the agents not called in process are attached.
    pub fn set_attachments(&self, attachments: Vec<(u32, Attachment)>) {
        *self.attachments.lock() = attachments;
    }

    /// Each agent's `pmcd.agent.type` and `pmcd.agent.status` (0 and 0
    /// for an agent called in process, as pmcd gives for a DSO).
    pub fn agent_types(&self) -> Vec<(u32, u32, i32)> {
        let attached = self.attachments.lock();
        self.agents()
            .into_iter()
            .map(|(_, d)| {
                attached
                    .iter()
                    .find(|(a, _)| *a == d)
                    .map_or((d, 0, 0), |(_, a)| (d, a.kind(), a.status()))
            })
            .collect()
    }

    /// The configuration sequence number (`pmcd.seqnum`): moves with the
    /// host's namespace.
    pub fn seqnum(&self) -> u32 {
        self.seqnum.load(Ordering::Relaxed)
    }

    /// Asks the host's agents for new names, at most once a second
    /// across all clients (the first client to fetch after that does it).
    pub fn refresh_names_if_due(&self, host: &Host) {
        {
            let mut last = self.last_names_refresh.lock();
            if last.is_some_and(|t| t.elapsed() < NAMES_REFRESH) {
                return;
            }
            *last = Some(Instant::now());
        }
        host.refresh_names();
        self.seqnum
            .store(host.names_generation() as u32, Ordering::Relaxed);
    }

    /// The 16 registers of `pmcd.control.register`.
    pub fn registers(&self) -> [i32; 16] {
        *self.registers.lock()
    }

    /// Sets register `i` (ignored past 15).
    pub fn set_register(&self, i: usize, v: i32) {
        if let Some(r) = self.registers.lock().get_mut(i) {
            *r = v;
        }
    }
}

fn slot_of(ty: u32) -> Option<usize> {
    (types::FIRST..=types::LAST)
        .contains(&ty)
        .then(|| (ty - types::FIRST) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_slots_are_reused_lowest_first() {
        let s = ServerState::new("x", 5, false);
        assert_eq!(s.add_client(), 0);
        assert_eq!(s.add_client(), 1);
        assert_eq!(s.add_client(), 2);
        s.remove_client(1);
        assert_eq!(s.add_client(), 1);
        s.update_client(1, |r| r.whoami = "pmval".into());
        let rows = s.clients();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].1.whoami, "pmval");
        s.remove_client(2);
        s.remove_client(1);
        assert_eq!(s.clients().len(), 1);
    }

    #[test]
    fn pdus_are_counted_by_type() {
        let s = ServerState::new("x", 5, false);
        s.count_in(types::FETCH);
        s.count_in(types::FETCH);
        s.count_out(types::RESULT);
        s.count_in(0x9000);
        assert_eq!(s.pdus_in(types::FETCH), Some(2));
        assert_eq!(s.pdus_out(types::RESULT), Some(1));
        assert_eq!(s.total_in(), 2);
        assert_eq!(s.pdus_in(0x9000), None);
    }
}
