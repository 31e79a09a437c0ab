//! The host's fetch: one request fanned out to the agents involved, in
//! parallel, each under the deadline, the answers put back in the order
//! asked and checked against the answer rules.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crossbeam_channel::{bounded, Receiver, Sender};

use super::{FetchResult, GroupReply, Host, Job, JobState, SPIN};
use crate::error::PmError;
use crate::id::Pmid;
use crate::indom::Profile;
use crate::pmda::{ClientContext, FetchRequest, MetricResult};

impl Host {
    /// Fetches `pmids` with every instance.
    pub fn fetch(&self, pmids: &[Pmid]) -> FetchResult {
        self.fetch_with(pmids, &Profile::all())
    }

    /// Fetches `pmids`, keeping only the instances `profile` wants. Each
    /// agent involved is asked once, all in parallel; concurrent fetches of
    /// one agent queue behind each other. An agent that misses the deadline
    /// yields [`PmError::TIMEOUT`] for its metrics, and while it is stuck in
    /// that request later fetches get the timeout at once.
    pub fn fetch_with(&self, pmids: &[Pmid], profile: &Profile) -> FetchResult {
        self.fetch_as(&self.client, pmids, profile)
    }

    /// Fetches `pmids` as `client`, keeping only the instances `profile`
    /// wants; otherwise as [`Host::fetch_with`]. Every answer obeys the
    /// rules of [`crate::answer`].
    pub fn fetch_as(
        &self,
        client: &ClientContext,
        pmids: &[Pmid],
        profile: &Profile,
    ) -> FetchResult {
        let timestamp = SystemTime::now();
        let deadline = Instant::now() + self.timeout;
        let mut values: Vec<(Pmid, MetricResult)> =
            pmids.iter().map(|&p| (p, Err(PmError::NOAGENT))).collect();
        // Group request positions by domain, keeping request order within each.
        let mut groups: Vec<(u32, Vec<usize>)> = Vec::new();
        for (i, p) in pmids.iter().enumerate() {
            match groups.iter_mut().find(|g| g.0 == p.domain()) {
                Some(g) => g.1.push(i),
                None => groups.push((p.domain(), vec![i])),
            }
        }
        let (tx, rx): (Sender<GroupReply>, Receiver<GroupReply>) = bounded(groups.len());
        let mut pending = 0usize;
        let mut jobs: Vec<(usize, Arc<JobState>)> = Vec::with_capacity(groups.len());
        let mut answered = vec![false; groups.len()];
        let mut labels_changed = false;
        for (gi, (domain, positions)) in groups.iter().enumerate() {
            let Ok(slot) = self.slot(*domain) else {
                continue;
            };
            if slot.stuck.load(Ordering::Acquire) {
                // Still stuck in an earlier request: do not queue behind it.
                for &i in positions {
                    values[i].1 = Err(PmError::TIMEOUT);
                }
                continue;
            }
            let agent = Arc::clone(&slot.agent);
            let stuck = Arc::clone(&slot.stuck);
            let state = Arc::new(JobState::default());
            let job_state = Arc::clone(&state);
            let req_pmids: Vec<Pmid> = positions.iter().map(|&i| pmids[i]).collect();
            let profile = profile.clone();
            let client = client.clone();
            let tx = tx.clone();
            let generation = Arc::clone(&self.metadata_generation);
            let job: Job = Box::new(move || {
                if job_state.abandoned.load(Ordering::Acquire) {
                    // Its caller gave up while it waited in the queue.
                    return;
                }
                job_state.started.store(true, Ordering::Release);
                let mut a = agent.lock();
                let req = FetchRequest {
                    pmids: &req_pmids,
                    profile: &profile,
                    client: &client,
                };
                let mut out = a.fetch(&req);
                out.resize_with(req_pmids.len(), || Err(PmError::IPC));
                for (pmid, r) in req_pmids.iter().zip(out.iter_mut()) {
                    if let Ok(desc) = a.desc(*pmid) {
                        let raw = std::mem::replace(r, Ok(Vec::new()));
                        *r = crate::answer::normalise(&desc, &profile, raw);
                    }
                }
                let lc = a.labels_changed();
                drop(a);
                if lc {
                    generation.fetch_add(1, Ordering::AcqRel);
                }
                job_state.finished.store(true, Ordering::Release);
                stuck.store(false, Ordering::Release);
                let _ = tx.send((gi, out, lc));
            });
            if slot.jobs.send(job).is_ok() {
                pending += 1;
                jobs.push((gi, state));
            }
        }
        drop(tx);
        // Agents that do not answer in time get a timeout for their metrics.
        for (_, positions) in &groups {
            for &i in positions {
                if matches!(values[i].1, Err(PmError::NOAGENT))
                    && self.by_domain.contains_key(&pmids[i].domain())
                {
                    values[i].1 = Err(PmError::TIMEOUT);
                }
            }
        }
        // Agents that answer from memory reply within microseconds: poll
        // briefly before sleeping, which saves a thread wake-up per fetch.
        let spin_until = Instant::now() + SPIN;
        while pending > 0 {
            let reply = match rx.try_recv() {
                Ok(r) => Ok(r),
                Err(_) if Instant::now() < spin_until => {
                    std::thread::yield_now();
                    continue;
                }
                Err(_) => rx.recv_deadline(deadline),
            };
            let Ok((gi, out, lc)) = reply else {
                break;
            };
            pending -= 1;
            answered[gi] = true;
            labels_changed |= lc;
            for (&i, r) in groups[gi].1.iter().zip(out) {
                values[i].1 = r;
            }
        }
        // Jobs that missed the deadline: drop those still queued; an agent
        // whose job is running past it is stuck until that job returns.
        for (gi, state) in &jobs {
            if answered[*gi] {
                continue;
            }
            state.abandoned.store(true, Ordering::Release);
            if state.started.load(Ordering::Acquire) {
                if let Ok(slot) = self.slot(groups[*gi].0) {
                    slot.stuck.store(true, Ordering::Release);
                    // It may have finished in between: then it is not stuck.
                    if state.finished.load(Ordering::Acquire) {
                        slot.stuck.store(false, Ordering::Release);
                    }
                }
            }
        }
        FetchResult {
            timestamp,
            values,
            names_changed: self.names_changed.swap(false, Ordering::Relaxed),
            labels_changed,
        }
    }
}
