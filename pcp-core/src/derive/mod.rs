//! Derived metrics: PCP's expression language of pmRegisterDerived(3)
//! (PCP 6.0.3) over the metrics of a [`crate::Host`].
//!
//! - [`parse`] reads one expression into an [`Expr`] (a nom scanner and a
//!   precedence parser with libpcp's grammar, positions and messages);
//! - a [`Registry`] holds the global definitions, as libpcp's
//!   pmRegisterDerived and pmLoadDerivedConfig make them: PMIDs in the
//!   dynamic domain 511 in registration order (after libpcp's two anonymous
//!   `event.*` metrics), one-line and long help; [`Registry::load_default`]
//!   reads `$PCP_DERIVED_CONFIG` or PCP's configuration directory;
//! - a [`DerivedContext`] is one client context's view: the global
//!   definitions bound against the host's namespace on first use (semantic
//!   checks, descriptors), per-context definitions (pmAddDerived), and the
//!   values `delta()`/`rate()` keep between fetches;
//! - a [`DerivedHost`] (a host seen through a context) answers every
//!   [`crate::pmapi::Pmapi`] question with the derived metrics added, so
//!   `info`, `watch` and `serve` show them like any other metric.
//!
//! ```
//! use pcp_core::derive::Registry;
//! let mut r = Registry::new();
//! let pmid = r.register("my.metric", "100 * rate(kernel.all.cpu.user)").unwrap();
//! assert_eq!(pmid.to_string(), "511.0.3");
//! let err = r.register("bad", "4rat(disk.dev.read)").unwrap_err();
//! assert_eq!(err.message("bad", "4rat(disk.dev.read)"),
//!            "Error: pmRegisterDerivedMetric(\"bad\", ...)\n4rat(disk.dev.read)\n ^\n");
//! ```

mod arith;
mod ast;
mod bind;
mod column;
mod config;
mod context;
mod eval;
mod lexer;
mod parser;
#[cfg(test)]
mod scalar_model;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

pub use ast::{BinOp, Constant, Expr, Func, Pattern};
pub use config::{LoadReport, DEFAULT_DIR};
pub use context::{DerivedContext, DerivedHost, MAX_CONTEXT_METRICS};
pub use parser::{parse, SyntaxError, MAX_DEPTH, MAX_NODES};

use crate::desc::Type;
use crate::id::{Pmid, DYNAMIC_DOMAIN};

/// Longest expression text accepted (libpcp has no limit; a bound keeps a
/// hostile client from handing us megabytes to parse).
pub const MAX_EXPR_LEN: usize = 64 * 1024;

/// Most global definitions (PMIDs 511.0.1 up to 511.2047.1023).
pub const MAX_GLOBAL_METRICS: usize = 100_000;

/// One derived metric definition.
#[derive(Debug, Clone)]
pub struct Definition {
    /// Its name.
    pub name: String,
    /// Its PMID (domain 511).
    pub pmid: Pmid,
    /// The expression as written.
    pub source: String,
    /// The parsed expression.
    pub expr: Arc<Expr>,
    /// An anonymous metric (`event.flags`): always valid, no values.
    pub anon: bool,
    /// One-line help (`NAME(oneline) = ...`).
    pub oneline: Option<String>,
    /// Long help (`NAME(helptext) = ...`).
    pub help: Option<String>,
}

/// Why a definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The expression does not parse.
    #[error("syntax error at byte {}{}", .0.pos, .0.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Syntax(SyntaxError),
    /// A definition of that name exists already.
    #[error("{0}")]
    Refused(&'static str),
}

impl RegisterError {
    /// The diagnostic libpcp's `pmDerivedErrStr` gives, if any.
    pub fn diagnostic(&self) -> Option<&str> {
        match self {
            RegisterError::Syntax(e) => e.message.as_deref(),
            RegisterError::Refused(m) => Some(m),
        }
    }

    /// The position libpcp reports (refusals point at the start).
    pub fn pos(&self) -> isize {
        match self {
            RegisterError::Syntax(e) => e.pos,
            RegisterError::Refused(_) => 0,
        }
    }

    /// The text pmRegisterDerivedMetric returns for this error: the name,
    /// the expression, a caret under the position and the diagnostic line.
    pub fn message(&self, name: &str, expr: &str) -> String {
        let caret = SyntaxError {
            pos: self.pos(),
            message: None,
        }
        .caret();
        let mut out = format!("Error: pmRegisterDerivedMetric(\"{name}\", ...)\n{expr}\n{caret}\n");
        if let Some(d) = self.diagnostic() {
            out.push_str(d);
            out.push('\n');
        }
        out
    }
}

/// Why a `(oneline)` or `(helptext)` attribute was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AttrError {
    /// No definition of that name (yet).
    #[error("no derived metric of that name is defined")]
    NotDefined,
    /// Not `oneline` or `helptext`.
    #[error("unknown attribute (not oneline or helptext)")]
    Unknown,
    /// Given twice.
    #[error("attribute given twice")]
    Duplicate,
}

/// The global derived metrics of a process (libpcp's registered list).
#[derive(Debug)]
pub struct Registry {
    defs: Vec<Definition>,
    by_name: HashMap<String, usize>,
    /// The PMID the next definition gets (cluster, item).
    next: (u32, u32),
    /// Semantic errors already reported (once per metric per process).
    reported: Mutex<HashSet<String>>,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::new()
    }
}

impl Registry {
    /// A registry with libpcp's two anonymous metrics, `event.flags` and
    /// `event.missed` (PMIDs 511.0.1 and 511.0.2), so the first definition
    /// gets 511.0.3 as it does in any PCP client.
    pub fn new() -> Registry {
        let mut r = Registry {
            defs: Vec::new(),
            by_name: HashMap::new(),
            next: (0, 1),
            reported: Mutex::new(HashSet::new()),
        };
        for (name, oneline, help) in [
            (
                "event.flags",
                "Flags of event records",
                "An anonymous derived metric that carries the flags of event\n\
                 records (see pmUnpackEventRecords(3)).",
            ),
            (
                "event.missed",
                "Number of event records missed",
                "An anonymous derived metric that counts event records that\n\
                 were missed because the agent or the client could not keep up\n\
                 (see pmUnpackEventRecords(3)).",
            ),
        ] {
            let def = Definition {
                name: name.into(),
                pmid: r.take_pmid(),
                source: "anon(PM_TYPE_U32)".into(),
                expr: Arc::new(Expr::Anon(Type::U32)),
                anon: true,
                oneline: Some(oneline.into()),
                help: Some(help.into()),
            };
            r.push(def);
        }
        r
    }

    fn take_pmid(&mut self) -> Pmid {
        let (c, i) = self.next;
        self.next = if i < 1023 { (c, i + 1) } else { (c + 1, 1) };
        Pmid::from_parts(DYNAMIC_DOMAIN, c, i)
    }

    fn push(&mut self, def: Definition) {
        self.by_name.insert(def.name.clone(), self.defs.len());
        self.defs.push(def);
    }

    /// Registers a global derived metric (pmRegisterDerived): the
    /// expression is parsed now, checked against metrics when a context
    /// first uses it. Returns its PMID.
    pub fn register(&mut self, name: &str, expr: &str) -> Result<Pmid, RegisterError> {
        if self.defs.len() >= MAX_GLOBAL_METRICS {
            return Err(RegisterError::Refused("Too many global derived metrics"));
        }
        if self.by_name.contains_key(name) {
            return Err(RegisterError::Refused(
                "Duplicate global derived metric name",
            ));
        }
        let parsed = parse_bounded(expr)?;
        if self.next.0 > 2047 {
            return Err(RegisterError::Refused("global PMID space exhausted"));
        }
        let pmid = self.take_pmid();
        self.push(Definition {
            name: name.to_string(),
            pmid,
            source: expr.to_string(),
            expr: Arc::new(parsed),
            anon: false,
            oneline: None,
            help: None,
        });
        Ok(pmid)
    }

    /// Sets a definition's `oneline` or `helptext` attribute, once each.
    pub fn set_attribute(&mut self, name: &str, attr: &str, text: &str) -> Result<(), AttrError> {
        let i = *self.by_name.get(name).ok_or(AttrError::NotDefined)?;
        let slot = match attr {
            "oneline" => &mut self.defs[i].oneline,
            "helptext" => &mut self.defs[i].help,
            _ => return Err(AttrError::Unknown),
        };
        if slot.is_some() {
            return Err(AttrError::Duplicate);
        }
        *slot = Some(text.to_string());
        Ok(())
    }

    /// Every definition, in registration (PMID) order.
    pub fn definitions(&self) -> &[Definition] {
        &self.defs
    }

    /// The definition called `name`.
    pub fn get(&self, name: &str) -> Option<&Definition> {
        self.by_name.get(name).map(|&i| &self.defs[i])
    }

    /// The definition with PMID `pmid`.
    pub fn by_pmid(&self, pmid: Pmid) -> Option<&Definition> {
        if pmid.domain() != DYNAMIC_DOMAIN {
            return None;
        }
        // PMIDs go up in registration order: item 1.. within cluster 0...
        let index = pmid.cluster() as usize * 1023 + pmid.item() as usize;
        self.defs
            .get(index.checked_sub(1)?)
            .filter(|d| d.pmid == pmid)
    }

    /// Reports a semantic error of a global definition on standard error,
    /// once per metric per process (as pminfo prints them on first use).
    pub(crate) fn report_once(&self, name: &str, text: &str) {
        let mut seen = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        if seen.insert(name.to_string()) {
            eprintln!("{text}");
        }
    }
}

fn parse_bounded(expr: &str) -> Result<Expr, RegisterError> {
    if expr.len() > MAX_EXPR_LEN {
        return Err(RegisterError::Syntax(SyntaxError {
            pos: 0,
            message: Some(format!("expression longer than {MAX_EXPR_LEN} bytes")),
        }));
    }
    parse(expr).map_err(RegisterError::Syntax)
}

/// True for a metric name libpcp accepts in a configuration file: dotted
/// components, each a letter then letters, digits or `_`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            let mut b = part.bytes();
            b.next().is_some_and(|c| c.is_ascii_alphabetic())
                && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pmids_follow_registration_order() {
        let mut r = Registry::new();
        assert_eq!(r.definitions().len(), 2);
        let a = r.register("a.b", "1").unwrap();
        assert_eq!(a, Pmid::from_parts(511, 0, 3));
        // A syntax error takes no PMID; a duplicate neither.
        assert!(r.register("c", "1 +").is_err());
        assert_eq!(
            r.register("a.b", "2").unwrap_err(),
            RegisterError::Refused("Duplicate global derived metric name")
        );
        assert_eq!(r.register("d", "2").unwrap(), Pmid::from_parts(511, 0, 4));
        assert_eq!(r.by_pmid(a).unwrap().name, "a.b");
        for i in 0..2000 {
            r.register(&format!("x{i}"), "1").unwrap();
        }
        assert_eq!(r.get("x1018").unwrap().pmid, Pmid::from_parts(511, 0, 1023));
        assert_eq!(r.get("x1019").unwrap().pmid, Pmid::from_parts(511, 1, 1));
        assert_eq!(
            r.by_pmid(Pmid::from_parts(511, 1, 1)).unwrap().name,
            "x1019"
        );
    }

    #[test]
    fn attributes_once_each() {
        let mut r = Registry::new();
        r.register("m", "1").unwrap();
        assert_eq!(r.set_attribute("m", "oneline", "one"), Ok(()));
        assert_eq!(
            r.set_attribute("m", "oneline", "two"),
            Err(AttrError::Duplicate)
        );
        assert_eq!(
            r.set_attribute("m", "colour", "red"),
            Err(AttrError::Unknown)
        );
        assert_eq!(
            r.set_attribute("n", "oneline", "x"),
            Err(AttrError::NotDefined)
        );
    }

    #[test]
    fn names() {
        assert!(valid_name("disk.dev.await"));
        assert!(valid_name("a1.b_2"));
        assert!(!valid_name("bad name"));
        assert!(!valid_name("1a"));
        assert!(!valid_name("a..b"));
    }
}
