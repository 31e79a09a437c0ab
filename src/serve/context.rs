//! pmproxy-style web contexts: a request without a context gets a fresh
//! one (a random 31-bit number, as pmproxy's), which the client may name
//! again (`?context=N` or `/pmapi/N/...`) until it has been idle for its
//! poll timeout (`polltimeout=`, 5 s by default). A context holds the
//! instance profile that `/pmapi/profile` edits and fetches apply, and its
//! derived metrics: the global ones bound on first use, those
//! `/pmapi/derive` adds, and the previous values their `delta()` and
//! `rate()` need (as a pmproxy web context is a PMAPI context).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::Arc;

use pcp_core::derive::{DerivedContext, Registry};
use pcp_core::Profile;

/// pmproxy's default context poll timeout.
pub(crate) const DEFAULT_POLL_TIMEOUT: Duration = Duration::from_secs(5);

/// Most live contexts kept; past it the least recently used go first.
const MAX_CONTEXTS: usize = 65_536;

/// Most per-context derived metrics (`/pmapi/derive`) alive over all
/// contexts: with the expression limit below, they hold at most about
/// 160 MB; a client asking for more is refused until contexts expire.
pub(crate) const MAX_DERIVED_TOTAL: usize = 10_000;

/// Longest expression `/pmapi/derive` accepts.
pub(crate) const MAX_DERIVED_EXPR: usize = 16 * 1024;

/// Longest poll timeout a client may ask for.
const MAX_POLL_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug)]
struct Ctx {
    last_used: Instant,
    timeout: Duration,
    profile: Option<Box<Profile>>,
    derived: Arc<DerivedContext>,
}

impl Ctx {
    fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.last_used) > self.timeout
    }
}

#[derive(Debug)]
struct Inner {
    map: HashMap<u32, Ctx>,
    /// Per-context derived metrics alive in every context.
    derived_total: usize,
    last_sweep: Instant,
    rng: u64,
}

impl Inner {
    fn drop_context(&mut self, id: u32) {
        if let Some(c) = self.map.remove(&id) {
            self.derived_total = self.derived_total.saturating_sub(c.derived.local_count());
        }
    }
}

/// Why a context could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ContextError {
    /// Not a decimal number.
    Invalid(String),
    /// No such live context.
    Unknown(u32),
    /// A bad `polltimeout`.
    BadTimeout,
}

impl std::fmt::Display for ContextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContextError::Invalid(s) => write!(f, "invalid context identifier: {s}"),
            ContextError::Unknown(n) => write!(f, "unknown context identifier: {n}"),
            ContextError::BadTimeout => f.write_str("invalid timeout requested in polltime"),
        }
    }
}

/// The table of live contexts.
#[derive(Debug)]
pub(crate) struct Contexts {
    inner: Mutex<Inner>,
    registry: Arc<Registry>,
}

impl Default for Contexts {
    fn default() -> Contexts {
        Contexts::new()
    }
}

impl Contexts {
    /// An empty table whose contexts have libpcp's anonymous derived
    /// metrics only.
    pub fn new() -> Contexts {
        Contexts::with_registry(Arc::new(Registry::new()))
    }

    /// An empty table whose contexts see the global derived metrics of
    /// `registry`.
    pub fn with_registry(registry: Arc<Registry>) -> Contexts {
        let seed = RandomState::new().build_hasher().finish() | 1;
        Contexts {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                derived_total: 0,
                last_sweep: Instant::now(),
                rng: seed,
            }),
            registry,
        }
    }

    /// Adds a derived metric to context `id` with `add`, within the
    /// limits on expressions and on the metrics of all contexts.
    pub fn add_derived<T>(
        &self,
        id: u32,
        expr_len: usize,
        add: impl FnOnce(&DerivedContext) -> T,
    ) -> Result<T, String> {
        if expr_len > MAX_DERIVED_EXPR {
            return Err(format!(
                "derived metric expression of {expr_len} bytes is over the limit of {MAX_DERIVED_EXPR}"
            ));
        }
        let derived = {
            let inner = self.lock();
            if inner.derived_total >= MAX_DERIVED_TOTAL {
                return Err(format!(
                    "too many derived metrics in all contexts ({MAX_DERIVED_TOTAL}); \
                     wait for idle contexts to expire"
                ));
            }
            inner.map.get(&id).map(|c| c.derived.clone())
        };
        let Some(derived) = derived else {
            return Err(format!("unknown context identifier: {id}"));
        };
        let before = derived.local_count();
        let out = add(&derived);
        let added = derived.local_count().saturating_sub(before);
        let mut inner = self.lock();
        if inner.map.contains_key(&id) {
            inner.derived_total += added;
        }
        Ok(out)
    }

    /// The derived metrics of context `id` (a fresh set if it is gone).
    pub fn derived(&self, id: u32) -> Arc<DerivedContext> {
        self.lock()
            .map
            .get(&id)
            .map(|c| c.derived.clone())
            .unwrap_or_else(|| Arc::new(DerivedContext::new(self.registry.clone())))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (every update is a single insert/remove), so carry on.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves the context of a request: `given` (from the path or the
    /// `context` parameter) must be live; without one a new context is made
    /// with `polltimeout` seconds (pmproxy's default if absent).
    pub fn resolve(
        &self,
        given: Option<&str>,
        polltimeout: Option<&str>,
    ) -> Result<u32, ContextError> {
        let now = Instant::now();
        match given {
            Some(s) => {
                let id = parse_id(s)?;
                let mut inner = self.lock();
                match inner.map.get_mut(&id) {
                    Some(c) if !c.expired(now) => {
                        c.last_used = now;
                        Ok(id)
                    }
                    Some(_) => {
                        inner.drop_context(id);
                        Err(ContextError::Unknown(id))
                    }
                    None => Err(ContextError::Unknown(id)),
                }
            }
            None => {
                let timeout = match polltimeout {
                    None => DEFAULT_POLL_TIMEOUT,
                    Some(t) => parse_timeout(t)?,
                };
                Ok(self.create(timeout, now))
            }
        }
    }

    fn create(&self, timeout: Duration, now: Instant) -> u32 {
        let mut inner = self.lock();
        if now.duration_since(inner.last_sweep) > Duration::from_secs(1)
            || inner.map.len() >= MAX_CONTEXTS
        {
            let gone: Vec<u32> = inner
                .map
                .iter()
                .filter(|(_, c)| c.expired(now))
                .map(|(k, _)| *k)
                .collect();
            for id in gone {
                inner.drop_context(id);
            }
            inner.last_sweep = now;
            if inner.map.len() >= MAX_CONTEXTS {
                if let Some(oldest) = inner
                    .map
                    .iter()
                    .min_by_key(|(_, c)| c.last_used)
                    .map(|(k, _)| *k)
                {
                    inner.drop_context(oldest);
                }
            }
        }
        let id = loop {
            // xorshift64*: ids need only be hard to collide, not secret.
            let mut x = inner.rng;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            inner.rng = x;
            let id = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as u32;
            if id != 0 && !inner.map.contains_key(&id) {
                break id;
            }
        };
        inner.map.insert(
            id,
            Ctx {
                last_used: now,
                timeout,
                profile: None,
                derived: Arc::new(DerivedContext::new(self.registry.clone())),
            },
        );
        id
    }

    /// The instance profile of context `id` (every instance if none set).
    pub fn profile(&self, id: u32) -> Profile {
        self.lock()
            .map
            .get(&id)
            .and_then(|c| c.profile.as_deref().cloned())
            .unwrap_or_default()
    }

    /// Edits the profile of context `id`.
    pub fn edit_profile(&self, id: u32, f: impl FnOnce(&mut Profile)) {
        let mut inner = self.lock();
        if let Some(c) = inner.map.get_mut(&id) {
            let p = c.profile.get_or_insert_with(|| Box::new(Profile::all()));
            f(p);
        }
    }

    /// How many contexts are live (or not yet swept).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }
}

fn parse_id(s: &str) -> Result<u32, ContextError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ContextError::Invalid(s.chars().take(40).collect()));
    }
    s.parse::<u32>()
        .map_err(|_| ContextError::Invalid(s.chars().take(40).collect()))
}

fn parse_timeout(t: &str) -> Result<Duration, ContextError> {
    let secs: f64 = t.trim().parse().map_err(|_| ContextError::BadTimeout)?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(ContextError::BadTimeout);
    }
    Ok(Duration::try_from_secs_f64(secs)
        .unwrap_or(MAX_POLL_TIMEOUT)
        .min(MAX_POLL_TIMEOUT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_are_created_reused_and_expire() {
        let c = Contexts::new();
        let a = c.resolve(None, Some("0.05")).unwrap();
        let b = c.resolve(None, None).unwrap();
        assert_ne!(a, b);
        assert_eq!(c.resolve(Some(&a.to_string()), None), Ok(a));
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(
            c.resolve(Some(&a.to_string()), None),
            Err(ContextError::Unknown(a))
        );
        assert_eq!(c.resolve(Some(&b.to_string()), None), Ok(b));
        assert!(matches!(
            c.resolve(Some("12x"), None),
            Err(ContextError::Invalid(_))
        ));
        assert!(matches!(
            c.resolve(Some("99999999999"), None),
            Err(ContextError::Invalid(_))
        ));
        assert_eq!(c.resolve(None, Some("abc")), Err(ContextError::BadTimeout));
        assert_eq!(c.resolve(None, Some("-1")), Err(ContextError::BadTimeout));
        assert!(c.len() >= 1);
    }

    #[test]
    fn profiles_are_per_context() {
        let c = Contexts::new();
        let a = c.resolve(None, None).unwrap();
        let b = c.resolve(None, None).unwrap();
        let d = pcp_core::InDom::from_parts(253, 0);
        c.edit_profile(a, |p| p.add(d, 1));
        assert!(!c.profile(a).wants(d, 2));
        assert!(c.profile(b).wants(d, 2));
    }
}
