//! The host: routing by domain, load-time conflicts, per-agent deadlines,
//! profiles, dynamic names.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcp_core::agent::{Metrics, Spec};
use pcp_core::*;

/// A configurable test agent: `n` singular metrics under `prefix`, an
/// optional delay per fetch, and a counter of fetch calls.
struct TestAgent {
    name: String,
    domain: u32,
    table: Metrics<()>,
    delay: Duration,
    fetches: Arc<AtomicUsize>,
    grow: Arc<AtomicBool>,
    /// The client of the latest fetch.
    last_client: Arc<std::sync::Mutex<Option<ClientContext>>>,
}

impl TestAgent {
    fn new(name: &str, domain: u32, prefix: &str, n: u32) -> TestAgent {
        let mut table = Metrics::new(domain);
        for i in 0..n {
            let pmid = Pmid::new(domain, 0, i).unwrap();
            let desc = Desc::new(
                pmid,
                Type::U64,
                InDom::NULL,
                Semantics::Counter,
                Units::COUNT,
            );
            table
                .add(format!("{prefix}.m{i}"), Spec::from(&desc), ())
                .unwrap()
                .oneline = "a test metric".into();
        }
        TestAgent {
            name: name.into(),
            domain,
            table,
            delay: Duration::ZERO,
            fetches: Arc::default(),
            grow: Arc::default(),
            last_client: Arc::default(),
        }
    }
}

impl Pmda for TestAgent {
    fn name(&self) -> &str {
        &self.name
    }
    fn domain(&self) -> u32 {
        self.domain
    }
    fn namespace(&self) -> &Namespace {
        self.table.namespace()
    }
    fn refresh_namespace(&mut self) -> bool {
        if self.grow.swap(false, Ordering::SeqCst) {
            let pmid = Pmid::new(self.domain, 1, 0).unwrap();
            let name = format!("{}.late", self.name);
            let desc = Desc::new(
                pmid,
                Type::U32,
                InDom::NULL,
                Semantics::Instant,
                Units::NONE,
            );
            self.table.add(name, Spec::from(&desc), ()).unwrap().oneline = "late".into();
            return true;
        }
        false
    }
    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        self.table.desc(pmid)
    }
    fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        *self.last_client.lock().unwrap() = Some(req.client.clone());
        std::thread::sleep(self.delay);
        req.pmids
            .iter()
            .map(|p| match self.table.get(*p) {
                Some(_) => Ok(vec![(PM_IN_NULL, Value::U64(p.item() as u64 * 10))]),
                None => Err(PmError::PMID),
            })
            .collect()
    }
}

#[test]
fn routes_by_domain_and_keeps_request_order() {
    let mut host = Host::new();
    host.load(Box::new(TestAgent::new("a", 400, "a", 3)))
        .unwrap();
    host.load(Box::new(TestAgent::new("b", 401, "b", 3)))
        .unwrap();
    let names = ["b.m2", "a.m1", "b.m0", "a.m2"];
    let pmids: Vec<Pmid> = names.iter().map(|n| host.lookup(n).unwrap()).collect();
    let r = host.fetch(&pmids);
    let got: Vec<(u32, u64)> = r
        .values
        .iter()
        .map(|(p, v)| match v.as_ref().unwrap()[0].1 {
            Value::U64(x) => (p.domain(), x),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(got, vec![(401, 20), (400, 10), (401, 0), (400, 20)]);
    assert_eq!(host.names_of(pmids[0]).unwrap(), vec!["b.m2".to_string()]);
    assert_eq!(host.lookup("a"), Err(PmError::NONLEAF));
    assert_eq!(host.lookup("zz.top"), Err(PmError::NAME));
    // A PMID of no loaded domain, and an unknown item of a loaded one.
    let r = host.fetch(&[Pmid::new(499, 0, 0).unwrap(), Pmid::new(400, 9, 9).unwrap()]);
    assert_eq!(r.values[0].1, Err(PmError::NOAGENT));
    assert_eq!(r.values[1].1, Err(PmError::PMID));
}

/// The host asks as its client: this process's user by default (with the
/// userid/groupid context labels pmcd gives a unix-socket client), or the
/// one set with `with_client` (an anonymous client gets no credential
/// labels, as a TCP client of pmcd does not).
#[test]
fn requests_carry_the_hosts_client_and_its_context_labels() {
    let label =
        |host: &Host, name: &str| host.context_labels().get(name).map(|l| l.value.to_string());
    let agent = TestAgent::new("a", 400, "a", 1);
    let seen = agent.last_client.clone();
    let mut host = Host::new();
    host.load(Box::new(agent)).unwrap();
    let pmid = host.lookup("a.m0").unwrap();
    host.fetch(&[pmid]);
    let me = ClientContext::local();
    assert_eq!(seen.lock().unwrap().clone(), Some(me.clone()));
    assert_eq!(label(&host, "userid"), me.user_id.map(|u| u.to_string()));
    assert_eq!(label(&host, "groupid"), me.group_id.map(|g| g.to_string()));
    assert!(label(&host, "hostname").is_some());

    let agent = TestAgent::new("a", 400, "a", 1);
    let seen = agent.last_client.clone();
    let mut host = Host::new().with_client(ClientContext::anonymous());
    host.load(Box::new(agent)).unwrap();
    host.fetch(&[pmid]);
    assert_eq!(seen.lock().unwrap().as_ref().unwrap().user_id, None);
    assert_eq!(label(&host, "userid"), None);
    assert_eq!(label(&host, "groupid"), None);
    assert!(label(&host, "hostname").is_some());

    let host = Host::new().with_client(ClientContext::user(1000, 100));
    assert_eq!(label(&host, "userid").as_deref(), Some("1000"));
    assert_eq!(label(&host, "groupid").as_deref(), Some("100"));
    assert_eq!(host.client().user_id, Some(1000));
}

#[test]
fn one_batch_per_agent_per_fetch() {
    let mut host = Host::new();
    let agent = TestAgent::new("a", 400, "a", 5);
    let calls = Arc::clone(&agent.fetches);
    host.load(Box::new(agent)).unwrap();
    let pmids: Vec<Pmid> = (0..5)
        .map(|i| host.lookup(&format!("a.m{i}")).unwrap())
        .collect();
    host.fetch(&pmids);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn load_time_conflicts_are_errors() {
    let mut host = Host::new();
    host.load(Box::new(TestAgent::new("a", 400, "a", 1)))
        .unwrap();
    let e = host
        .load(Box::new(TestAgent::new("b", 400, "b", 1)))
        .unwrap_err();
    assert!(e.to_string().contains("domain 400"), "{e}");
    let e = host
        .load(Box::new(TestAgent::new("c", 402, "a", 1)))
        .unwrap_err();
    assert!(e.to_string().contains("duplicate metric name a.m0"), "{e}");
    let e = host
        .load(Box::new(TestAgent::new("d", 0, "d", 1)))
        .unwrap_err();
    assert!(matches!(e, HostError::BadDomain { .. }), "{e}");
    // The failed loads left nothing behind.
    assert_eq!(host.agents().len(), 1);
    assert!(host.lookup("c.m0").is_err());
}

#[test]
fn hung_agent_does_not_block_others() {
    let mut host = Host::new().with_timeout(Duration::from_millis(300));
    let mut slow = TestAgent::new("slow", 400, "slow", 1);
    slow.delay = Duration::from_secs(2);
    host.load(Box::new(slow)).unwrap();
    host.load(Box::new(TestAgent::new("fast", 401, "fast", 1)))
        .unwrap();
    let pmids = [
        host.lookup("slow.m0").unwrap(),
        host.lookup("fast.m0").unwrap(),
    ];
    let t = Instant::now();
    let r = host.fetch(&pmids);
    let took = t.elapsed();
    assert_eq!(r.values[0].1, Err(PmError::TIMEOUT));
    assert_eq!(r.values[1].1, Ok(vec![(PM_IN_NULL, Value::U64(0))]));
    assert!(took < Duration::from_millis(1500), "fetch took {took:?}");
    // While the slow agent is still busy, a new fetch does not queue behind it.
    let t = Instant::now();
    let r = host.fetch(&pmids);
    assert_eq!(r.values[0].1, Err(PmError::TIMEOUT));
    assert!(r.values[1].1.is_ok());
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "second fetch took {:?}",
        t.elapsed()
    );
}

#[test]
fn dynamic_names_appear_and_are_flagged() {
    let mut host = Host::new();
    let agent = TestAgent::new("dyn", 400, "dyn", 1);
    let grow = Arc::clone(&agent.grow);
    host.load(Box::new(agent)).unwrap();
    assert_eq!(host.lookup("dyn.late"), Err(PmError::NAME));
    grow.store(true, Ordering::SeqCst);
    let p = host.lookup("dyn.late").unwrap();
    assert_eq!(p.to_string(), "400.1.0");
    let r = host.fetch(&[p]);
    assert!(r.names_changed);
    assert!(!host.fetch(&[p]).names_changed);
}

#[test]
fn one_timestamp_per_fetch() {
    let mut host = Host::new();
    host.load(Box::new(TestAgent::new("a", 400, "a", 1)))
        .unwrap();
    let before = std::time::SystemTime::now();
    let r = host.fetch(&[host.lookup("a.m0").unwrap()]);
    assert!(r.timestamp >= before && r.timestamp <= std::time::SystemTime::now());
}

#[test]
fn concurrent_fetches_queue_instead_of_failing() {
    let mut host = Host::new().with_timeout(Duration::from_secs(2));
    let mut agent = TestAgent::new("busy", 400, "busy", 1);
    agent.delay = Duration::from_millis(50);
    let calls = Arc::clone(&agent.fetches);
    host.load(Box::new(agent)).unwrap();
    let host = Arc::new(host);
    let p = host.lookup("busy.m0").unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let host = Arc::clone(&host);
            std::thread::spawn(move || host.fetch(&[p]).values[0].1.clone())
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), Ok(vec![(PM_IN_NULL, Value::U64(0))]));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[test]
fn queued_fetches_past_their_deadline_are_dropped() {
    let mut host = Host::new().with_timeout(Duration::from_millis(200));
    let mut agent = TestAgent::new("slow", 400, "slow", 1);
    agent.delay = Duration::from_millis(150);
    let calls = Arc::clone(&agent.fetches);
    host.load(Box::new(agent)).unwrap();
    let host = Arc::new(host);
    let p = host.lookup("slow.m0").unwrap();
    // Three at once: the first answers in time, the second may, the third
    // cannot (it would start after 300 ms) and is dropped, not run late.
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let host = Arc::clone(&host);
            std::thread::spawn(move || host.fetch(&[p]).values[0].1.is_ok())
        })
        .collect();
    let ok = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|x| *x)
        .count();
    assert!(ok >= 1, "at least the first fetch answers");
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        calls.load(Ordering::SeqCst) < 3,
        "an abandoned queued fetch still ran"
    );
    // The agent is not stuck: the next fetch answers.
    assert!(host.fetch(&[p]).values[0].1.is_ok());
}
