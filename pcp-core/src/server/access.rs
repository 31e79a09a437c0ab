//! Who may connect and what they may do: the statements of pmcd's
//! `[access]` section (pmcd(1), "ACCESS CONTROL CONFIGURATION"), by host.
//!
//! ```text
//! allow hosts 127.0.0.1, "unix:" : all;
//! disallow hosts 10.1.* : store;
//! allow hosts * : fetch, maximum 20 connections;
//! ```
//!
//! A host identifier is an IPv4 or IPv6 address (IPv6 ones quoted, since
//! `:` separates hosts from operations), one ending in a `*`
//! wildcard component (`10.1.*`, `fe80:*`; `.*` is every IPv4 address and
//! `:*` every IPv6 one), `localhost` (127.0.0.1 and ::1), `"unix:"` (a
//! client on our unix socket), `"local:"` (both) or `*` (everyone). Host
//! names other than `localhost` are looked up once, when the rules are
//! read. Operations are `fetch` (every request but a store), `store`,
//! `all`, or `all except ...`; an `allow` statement may add `maximum N
//! connections`.
//!
//! For each operation the most specific statement that names it decides
//! (a full address beats `10.1.*`, which beats `*`; among equals the last
//! statement wins). Where no statement names an operation, fetch is
//! allowed and **store is not** (pmcd allows both by default; its stock
//! configuration then denies store except on its unix socket). A client
//! allowed nothing is refused at connection with PM_ERR_PERMISSION; one
//! over the connection limit of the most specific limiting statement that
//! matches it, with PM_ERR_CONNLIMIT. User and group statements are not
//! supported (they need SASL or credential checks pmcd does with PCP's
//! own libraries) and are refused when read.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::error::PmError;

/// Where a client connects from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// Our unix-domain socket.
    Unix,
    /// A TCP peer.
    Ip(IpAddr),
}

/// The operations a client may perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ops {
    /// Every request but a store.
    pub fetch: bool,
    /// PDU_RESULT: storing values.
    pub store: bool,
}

impl Ops {
    /// True if the client may do anything at all.
    pub fn any(self) -> bool {
        self.fetch || self.store
    }
}

/// A host identifier of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostSpec {
    /// `*`: everyone.
    Anyone,
    /// `"unix:"`.
    Unix,
    /// An address prefix: the first `bits` bits of `addr`.
    Prefix { addr: IpAddr, bits: u32 },
}

impl HostSpec {
    fn matches(&self, peer: Peer) -> bool {
        match (self, peer) {
            (HostSpec::Anyone, _) => true,
            (HostSpec::Unix, Peer::Unix) => true,
            (HostSpec::Prefix { addr, bits }, Peer::Ip(ip)) => prefix_match(*addr, *bits, ip),
            _ => false,
        }
    }

    /// Higher is more specific.
    fn level(&self) -> u32 {
        match self {
            HostSpec::Anyone => 0,
            HostSpec::Prefix { bits, .. } => 1 + bits,
            HostSpec::Unix => 1000,
        }
    }
}

fn prefix_match(spec: IpAddr, bits: u32, ip: IpAddr) -> bool {
    let ip = match (spec, ip) {
        (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => return false,
        },
        _ => ip,
    };
    match (spec, ip) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            masked(u32::from(a) as u128, 32, bits) == masked(u32::from(b) as u128, 32, bits)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            masked(u128::from(a), 128, bits) == masked(u128::from(b), 128, bits)
        }
        _ => false,
    }
}

fn masked(v: u128, width: u32, bits: u32) -> u128 {
    if bits == 0 {
        0
    } else {
        v >> (width - bits.min(width))
    }
}

/// One statement, for one host identifier.
#[derive(Debug, Clone)]
struct Rule {
    spec: HostSpec,
    /// The operations the statement names.
    names: Ops,
    /// Whether it grants (true) or denies them, per operation.
    grants: Ops,
    /// `maximum N connections`.
    limit: Option<usize>,
}

/// Why an access section could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// The text does not follow the statement grammar.
    #[error("access rules, statement {statement}: {message}")]
    Syntax {
        /// 1-based statement number.
        statement: usize,
        /// What is wrong.
        message: String,
    },
}

/// Parsed access statements, with the connection counts of their limits.
#[derive(Debug, Clone)]
pub struct Access {
    rules: Vec<Rule>,
    counts: Arc<Vec<AtomicUsize>>,
}

impl Default for Access {
    /// No statement: fetch for everyone, store for no one.
    fn default() -> Access {
        Access::from_rules(Vec::new())
    }
}

/// A client's admission: the operations it may perform; it counts
/// against its limiting statement until dropped.
#[derive(Debug)]
pub struct Admission {
    /// The operations allowed.
    pub ops: Ops,
    counted: Option<(Arc<Vec<AtomicUsize>>, usize)>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some((counts, i)) = &self.counted {
            counts[*i].fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Access {
    fn from_rules(rules: Vec<Rule>) -> Access {
        let counts = Arc::new((0..rules.len()).map(|_| AtomicUsize::new(0)).collect());
        Access { rules, counts }
    }

    /// Reads statements (the body of a pmcd `[access]` section; a leading
    /// `[access]` line and `#` comments are allowed).
    pub fn parse(text: &str) -> Result<Access, AccessError> {
        let mut rules = Vec::new();
        let tokens = tokenize(text);
        for (n, stmt) in tokens.split(|t| t == ";").enumerate() {
            if stmt.is_empty() {
                continue;
            }
            parse_statement(stmt, &mut rules).map_err(|message| AccessError::Syntax {
                statement: n + 1,
                message,
            })?;
        }
        Ok(Access::from_rules(rules))
    }

    /// These statements plus `allow hosts * : store` (the least specific,
    /// so more specific statements still deny it).
    pub fn with_store_allowed(&self) -> Access {
        let mut rules = vec![Rule {
            spec: HostSpec::Anyone,
            names: Ops {
                fetch: false,
                store: true,
            },
            grants: Ops {
                fetch: false,
                store: true,
            },
            limit: None,
        }];
        rules.extend(self.rules.iter().cloned());
        Access::from_rules(rules)
    }

    /// The operations `peer` may perform.
    pub fn ops(&self, peer: Peer) -> Ops {
        let decide = |named: fn(&Ops) -> bool, default: bool| {
            let mut best: Option<(u32, bool)> = None;
            for r in self
                .rules
                .iter()
                .filter(|r| named(&r.names) && r.spec.matches(peer))
            {
                let level = r.spec.level();
                if best.is_none_or(|(l, _)| level >= l) {
                    best = Some((level, named(&r.grants)));
                }
            }
            best.map_or(default, |(_, g)| g)
        };
        Ops {
            fetch: decide(|o| o.fetch, true),
            store: decide(|o| o.store, false),
        }
    }

    /// Admits `peer`: PM_ERR_PERMISSION if it may do nothing,
    /// PM_ERR_CONNLIMIT if its limiting statement is full.
    pub fn admit(&self, peer: Peer) -> Result<Admission, PmError> {
        let ops = self.ops(peer);
        if !ops.any() {
            return Err(PmError::PERMISSION);
        }
        let mut limiting: Option<(u32, usize)> = None;
        for (i, r) in self.rules.iter().enumerate() {
            if r.limit.is_some() && r.spec.matches(peer) {
                let level = r.spec.level();
                if limiting.is_none_or(|(l, _)| level >= l) {
                    limiting = Some((level, i));
                }
            }
        }
        let Some((_, i)) = limiting else {
            return Ok(Admission { ops, counted: None });
        };
        let limit = self.rules[i].limit.unwrap_or(usize::MAX);
        let counted = self.counts[i].fetch_add(1, Ordering::AcqRel);
        if counted >= limit {
            self.counts[i].fetch_sub(1, Ordering::AcqRel);
            return Err(PmError::CONNLIMIT);
        }
        Ok(Admission {
            ops,
            counted: Some((Arc::clone(&self.counts), i)),
        })
    }
}

/// Words, quoted strings (quotes removed) and the delimiters `[]{}:;,`.
fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.eq_ignore_ascii_case("[access]") {
            continue;
        }
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '#' => break,
                c if c.is_whitespace() => {}
                '"' => {
                    let mut s = String::new();
                    for c in chars.by_ref() {
                        if c == '"' {
                            break;
                        }
                        s.push(c);
                    }
                    out.push(s);
                }
                '[' | ']' | '{' | '}' | ':' | ';' | ',' => out.push(c.to_string()),
                c => {
                    let mut s = String::from(c);
                    while let Some(&n) = chars.peek() {
                        if n.is_whitespace() || "[]{}:;,\"#".contains(n) {
                            break;
                        }
                        s.push(n);
                        chars.next();
                    }
                    out.push(s);
                }
            }
        }
    }
    out
}

fn parse_statement(stmt: &[String], rules: &mut Vec<Rule>) -> Result<(), String> {
    let allow = match stmt[0].to_ascii_lowercase().as_str() {
        "allow" => true,
        "disallow" => false,
        other => return Err(format!("expected allow or disallow, found {other:?}")),
    };
    let mut rest = &stmt[1..];
    match rest.first().map(|s| s.to_ascii_lowercase()) {
        Some(k) if k == "host" || k == "hosts" => rest = &rest[1..],
        Some(k) if ["user", "users", "group", "groups"].contains(&k.as_str()) => {
            return Err(format!(
                "{k} statements are not supported (only hosts): they need SASL or pmcd's credential checks"
            ))
        }
        _ => {}
    }
    let colon = rest
        .iter()
        .position(|t| t == ":")
        .ok_or("expected ':' between the hosts and the operations")?;
    let (hosts, ops) = (&rest[..colon], &rest[colon + 1..]);
    let mut specs = Vec::new();
    for h in hosts.split(|t| t == ",") {
        match h {
            [one] => specs.extend(host_specs(one)?),
            [] => return Err("empty host identifier".into()),
            more => return Err(format!("unexpected {:?} in host list", more.join(" "))),
        }
    }
    if specs.is_empty() {
        return Err("no host identifiers".into());
    }
    let (names, listed, limit) = parse_ops(ops)?;
    if limit.is_some() && !allow {
        return Err("a connection limit is only allowed in an allow statement".into());
    }
    let grants = Ops {
        fetch: names.fetch && (listed.fetch == allow),
        store: names.store && (listed.store == allow),
    };
    for spec in specs {
        rules.push(Rule {
            spec,
            names,
            grants,
            limit,
        });
    }
    Ok(())
}

/// The operations named, those given the statement's verdict (the others
/// named get the opposite, for `all except`), and a connection limit.
fn parse_ops(ops: &[String]) -> Result<(Ops, Ops, Option<usize>), String> {
    let mut names = Ops::default();
    let mut listed = Ops::default();
    let mut limit = None;
    for item in ops.split(|t| t == ",") {
        let words: Vec<String> = item.iter().map(|w| w.to_ascii_lowercase()).collect();
        match words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["fetch"] => (names.fetch, listed.fetch) = (true, true),
            ["store"] => (names.store, listed.store) = (true, true),
            ["all"] => {
                names = Ops {
                    fetch: true,
                    store: true,
                }
            }
            ["all", "except", op] => {
                names = Ops {
                    fetch: true,
                    store: true,
                };
                listed = Ops {
                    fetch: *op != "fetch",
                    store: *op != "store",
                };
                if !["fetch", "store"].contains(op) {
                    return Err(format!("unknown operation {op:?}"));
                }
            }
            ["maximum", n, "connections" | "connection"] => {
                limit = Some(
                    n.parse()
                        .map_err(|_| format!("bad connection limit {n:?}"))?,
                );
            }
            [] => return Err("empty operation".into()),
            other => return Err(format!("unknown operation {:?}", other.join(" "))),
        }
    }
    if names
        == (Ops {
            fetch: true,
            store: true,
        })
        && listed == Ops::default()
    {
        listed = names;
    }
    Ok((names, listed, limit))
}

fn host_specs(h: &str) -> Result<Vec<HostSpec>, String> {
    let lower = h.to_ascii_lowercase();
    Ok(match lower.as_str() {
        "*" => vec![HostSpec::Anyone],
        "unix:" | "unix:*" => vec![HostSpec::Unix],
        "local:" | "local:*" => vec![HostSpec::Unix, loopback4(), loopback6()],
        "localhost" => vec![loopback4(), loopback6()],
        ".*" => vec![prefix(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)],
        ":*" => vec![prefix(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)],
        _ if h.contains('*') => vec![wildcard(h)?],
        _ => match h.parse::<IpAddr>() {
            Ok(ip) => vec![prefix(ip, if ip.is_ipv4() { 32 } else { 128 })],
            Err(_) => resolve(h)?,
        },
    })
}

fn prefix(addr: IpAddr, bits: u32) -> HostSpec {
    HostSpec::Prefix { addr, bits }
}

fn loopback4() -> HostSpec {
    prefix(IpAddr::V4(Ipv4Addr::LOCALHOST), 32)
}

fn loopback6() -> HostSpec {
    prefix(IpAddr::V6(Ipv6Addr::LOCALHOST), 128)
}

/// `10.1.*` or `fe80:*` / `fe80::1:*`.
fn wildcard(h: &str) -> Result<HostSpec, String> {
    let bad = || format!("bad wildcard host identifier {h:?}");
    let stem = h.strip_suffix('*').ok_or_else(bad)?;
    if stem.contains('*') {
        return Err(bad());
    }
    if let Some(v4) = stem.strip_suffix('.') {
        let parts: Vec<&str> = v4.split('.').collect();
        if parts.len() > 3 {
            return Err(bad());
        }
        let mut octets = [0u8; 4];
        for (k, p) in parts.iter().enumerate() {
            octets[k] = p.parse().map_err(|_| bad())?;
        }
        return Ok(prefix(
            IpAddr::V4(Ipv4Addr::from(octets)),
            8 * parts.len() as u32,
        ));
    }
    let v6 = stem.strip_suffix(':').ok_or_else(bad)?;
    if let Some(head) = v6.strip_suffix(':') {
        // `a::b:*`: the `*` is the final 16 bits only.
        let ip: Ipv6Addr = format!("{head}::0").parse().map_err(|_| bad())?;
        return Ok(prefix(IpAddr::V6(ip), 112));
    }
    if v6.contains("::") {
        let ip: Ipv6Addr = format!("{v6}:0").parse().map_err(|_| bad())?;
        return Ok(prefix(IpAddr::V6(ip), 112));
    }
    let groups: Vec<&str> = v6.split(':').collect();
    if groups.len() > 7 {
        return Err(bad());
    }
    let mut words = [0u16; 8];
    for (k, g) in groups.iter().enumerate() {
        words[k] = u16::from_str_radix(g, 16).map_err(|_| bad())?;
    }
    Ok(prefix(
        IpAddr::V6(Ipv6Addr::from(words)),
        16 * groups.len() as u32,
    ))
}

fn resolve(name: &str) -> Result<Vec<HostSpec>, String> {
    let addrs = (name, 0)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve host {name:?}: {e}"))?;
    let specs: Vec<HostSpec> = addrs
        .map(|a| prefix(a.ip(), if a.is_ipv4() { 32 } else { 128 }))
        .collect();
    if specs.is_empty() {
        return Err(format!("host {name:?} has no address"));
    }
    Ok(specs)
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
