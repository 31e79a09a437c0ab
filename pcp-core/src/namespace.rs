//! The metric namespace (PMNS): a tree of dotted names whose leaves carry
//! PMIDs. Lookups go both ways (name to PMID, PMID to names); a node's
//! children and a subtree's leaves can be listed. Subtrees may be owned by
//! one agent and change at run time (see [`Namespace::replace_domain`]).

use std::collections::HashMap;

use indexmap::IndexMap;

use crate::error::NamespaceError;
use crate::id::Pmid;

#[derive(Debug, Default, Clone)]
struct Node {
    // Children in insertion order, as PCP's PMNS keeps them (pminfo lists a
    // subtree in the order its agent defined it), with hashed lookup.
    children: IndexMap<Box<str>, Node>,
    pmid: Option<Pmid>,
}

/// One child of a namespace node, as [`Namespace::children`] lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    /// The component name (relative to the parent).
    pub name: String,
    /// True for a leaf (a metric), false for an inner node.
    pub leaf: bool,
}

/// A metric namespace. Names are dotted paths of components that start with
/// a letter and hold letters, digits and `_` (PCP's rule).
#[derive(Debug, Default, Clone)]
pub struct Namespace {
    root: Node,
    by_pmid: HashMap<Pmid, Vec<Box<str>>>,
    /// Full leaf name to PMID: one hash per lookup instead of one per
    /// component (name resolution is the hot path of every client).
    by_name: HashMap<Box<str>, Pmid>,
}

/// True if `c` is a valid namespace component.
pub fn valid_component(c: &str) -> bool {
    let mut chars = c.chars();
    matches!(chars.next(), Some(ch) if ch.is_ascii_alphabetic())
        && chars.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// True if `name` is a valid dotted metric name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.split('.').all(valid_component)
}

/// Makes an arbitrary string into a valid namespace component: characters
/// other than letters, digits and `_` become `_`, and a name that does not
/// start with a letter gets an `x` in front (so empty input becomes `x`).
pub fn sanitize_component(raw: &str) -> String {
    sanitize_identifier(raw, 'x')
}

/// Makes `raw` a PCP identifier (a letter, then letters, digits and `_`):
/// other characters become `_`, and `prefix` goes in front of a name that
/// does not start with a letter. Shared by namespace components and label
/// names, which follow the same rule.
pub(crate) fn sanitize_identifier(raw: &str, prefix: char) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert(0, prefix);
    }
    s
}

impl Namespace {
    /// An empty namespace.
    pub fn new() -> Namespace {
        Namespace::default()
    }

    /// Number of leaves (metric names).
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True when there are no names.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Adds a leaf `name` with `pmid`. Rejects an invalid name, a duplicate,
    /// and a name that is a prefix of, or prefixed by, an existing leaf.
    pub fn insert(&mut self, name: &str, pmid: Pmid) -> Result<(), NamespaceError> {
        if !valid_name(name) {
            return Err(NamespaceError::BadName(name.to_string()));
        }
        // Check first, so a rejected name leaves no empty inner nodes behind.
        let mut node = &self.root;
        let mut consumed = 0;
        for c in name.split('.') {
            if node.pmid.is_some() {
                return Err(NamespaceError::LeafConflict(
                    name[..consumed - 1].to_string(),
                ));
            }
            consumed += c.len() + 1;
            match node.children.get(c) {
                Some(n) => node = n,
                None => {
                    node = &self.root;
                    consumed = usize::MAX;
                    break;
                }
            }
        }
        if consumed != usize::MAX {
            // Every component exists already.
            return Err(if node.pmid.is_some() {
                NamespaceError::Duplicate(name.to_string())
            } else {
                NamespaceError::LeafConflict(name.to_string())
            });
        }
        let _ = node;
        let mut node = &mut self.root;
        for c in name.split('.') {
            node = node.children.entry(c.into()).or_default();
        }
        node.pmid = Some(pmid);
        self.by_pmid.entry(pmid).or_default().push(name.into());
        self.by_name.insert(name.into(), pmid);
        Ok(())
    }

    fn find(&self, name: &str) -> Option<&Node> {
        if name.is_empty() {
            return Some(&self.root);
        }
        let mut node = &self.root;
        for c in name.split('.') {
            node = node.children.get(c)?;
        }
        Some(node)
    }

    /// The PMID of leaf `name`.
    pub fn lookup(&self, name: &str) -> Option<Pmid> {
        self.by_name.get(name).copied()
    }

    /// True if `name` is a leaf or an inner node.
    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// True if `name` is an inner node (has children).
    pub fn is_inner(&self, name: &str) -> bool {
        self.find(name).is_some_and(|n| n.pmid.is_none())
    }

    /// Every name `pmid` has (usually one).
    pub fn names_of(&self, pmid: Pmid) -> &[Box<str>] {
        self.by_pmid.get(&pmid).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The first name of `pmid`.
    pub fn name_of(&self, pmid: Pmid) -> Option<&str> {
        self.names_of(pmid).first().map(|s| &**s)
    }

    /// The immediate children of `name` (`""` is the root), in the order
    /// they were first inserted.
    /// `None` if `name` is not in the tree; a leaf has no children.
    pub fn children(&self, name: &str) -> Option<Vec<Child>> {
        let node = self.find(name)?;
        Some(
            node.children
                .iter()
                .map(|(k, n)| Child {
                    name: k.to_string(),
                    leaf: n.pmid.is_some(),
                })
                .collect(),
        )
    }

    /// Every leaf at or below `name` (`""` for all), full names with PMIDs,
    /// depth first, children in insertion order (as pminfo walks a PMNS). `None` if `name` is not in the tree.
    pub fn traverse(&self, name: &str) -> Option<Vec<(String, Pmid)>> {
        let node = self.find(name)?;
        let mut out = Vec::new();
        let mut prefix = name.to_string();
        walk(node, &mut prefix, &mut out);
        Some(out)
    }

    /// Visits every leaf at or below `name` without collecting them.
    pub fn for_each_leaf(&self, name: &str, mut f: impl FnMut(&str, Pmid)) -> bool {
        let Some(node) = self.find(name) else {
            return false;
        };
        let mut prefix = name.to_string();
        fn go(node: &Node, prefix: &mut String, f: &mut dyn FnMut(&str, Pmid)) {
            if let Some(p) = node.pmid {
                f(prefix, p);
                return;
            }
            for (k, child) in &node.children {
                let len = prefix.len();
                if !prefix.is_empty() {
                    prefix.push('.');
                }
                prefix.push_str(k);
                go(child, prefix, f);
                prefix.truncate(len);
            }
        }
        go(node, &mut prefix, &mut f);
        true
    }

    /// Removes leaf `name` (and inner nodes left empty). Returns its PMID.
    pub fn remove(&mut self, name: &str) -> Option<Pmid> {
        fn go(node: &mut Node, comps: &[&str]) -> Option<Pmid> {
            let (first, rest) = comps.split_first()?;
            let child = node.children.get_mut(*first)?;
            let removed = if rest.is_empty() {
                if !child.children.is_empty() {
                    return None;
                }
                child.pmid.take()
            } else {
                go(child, rest)
            };
            if removed.is_some() && child.children.is_empty() && child.pmid.is_none() {
                node.children.shift_remove(*first);
            }
            removed
        }
        let comps: Vec<&str> = name.split('.').collect();
        let pmid = go(&mut self.root, &comps)?;
        if let Some(v) = self.by_pmid.get_mut(&pmid) {
            v.retain(|n| &**n != name);
            if v.is_empty() {
                self.by_pmid.remove(&pmid);
            }
        }
        self.by_name.remove(name);
        Some(pmid)
    }

    /// Removes every leaf whose PMID is in `domain`.
    pub fn remove_domain(&mut self, domain: u32) {
        let names: Vec<Box<str>> = self
            .by_pmid
            .iter()
            .filter(|(p, _)| p.domain() == domain)
            .flat_map(|(_, v)| v.iter().cloned())
            .collect();
        for n in names {
            self.remove(&n);
        }
    }

    /// Replaces every name of `domain` with the leaves of `other` (used when
    /// an agent's dynamic names change). On a conflict with another domain's
    /// names nothing is changed and the error is returned.
    pub fn replace_domain(&mut self, domain: u32, other: &Namespace) -> Result<(), NamespaceError> {
        let mut trial = self.clone();
        trial.remove_domain(domain);
        let mut err = None;
        other.for_each_leaf("", |name, pmid| {
            if err.is_none() {
                if let Err(e) = trial.insert(name, pmid) {
                    err = Some(e);
                }
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        *self = trial;
        Ok(())
    }

    /// Adds every leaf of `other`; on error nothing is added.
    pub fn merge(&mut self, other: &Namespace) -> Result<(), NamespaceError> {
        let mut trial = self.clone();
        let mut err = None;
        other.for_each_leaf("", |name, pmid| {
            if err.is_none() {
                if let Err(e) = trial.insert(name, pmid) {
                    err = Some(e);
                }
            }
        });
        match err {
            Some(e) => Err(e),
            None => {
                *self = trial;
                Ok(())
            }
        }
    }

    /// The top-level components (the roots an agent's names hang from).
    pub fn top_level(&self) -> Vec<String> {
        self.root.children.keys().map(|k| k.to_string()).collect()
    }
}

fn walk(node: &Node, prefix: &mut String, out: &mut Vec<(String, Pmid)>) {
    if let Some(p) = node.pmid {
        out.push((prefix.clone(), p));
        return;
    }
    for (k, child) in &node.children {
        let len = prefix.len();
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(k);
        walk(child, prefix, out);
        prefix.truncate(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(c: u32, i: u32) -> Pmid {
        Pmid::new(60, c, i).unwrap()
    }

    #[test]
    fn lookups_both_ways() {
        let mut ns = Namespace::new();
        ns.insert("kernel.all.load", p(2, 0)).unwrap();
        ns.insert("kernel.all.cpu.user", p(0, 20)).unwrap();
        ns.insert("hinv.ncpu", p(0, 32)).unwrap();
        assert_eq!(ns.lookup("kernel.all.load"), Some(p(2, 0)));
        assert_eq!(ns.lookup("kernel.all"), None);
        assert!(ns.is_inner("kernel.all"));
        assert_eq!(ns.name_of(p(0, 32)), Some("hinv.ncpu"));
        assert_eq!(ns.len(), 3);
        let kids = ns.children("kernel.all").unwrap();
        // Insertion order, as PCP's PMNS keeps it.
        let kid = |n: &str, leaf| Child {
            name: n.into(),
            leaf,
        };
        assert_eq!(kids, vec![kid("load", true), kid("cpu", false)]);
        let all: Vec<String> = ns.traverse("").unwrap().into_iter().map(|x| x.0).collect();
        assert_eq!(all, ["kernel.all.load", "kernel.all.cpu.user", "hinv.ncpu"]);
        assert_eq!(ns.traverse("kernel.all.load").unwrap().len(), 1);
        assert!(ns.traverse("nope").is_none());
    }

    #[test]
    fn rejects_duplicates_and_leaf_conflicts() {
        let mut ns = Namespace::new();
        ns.insert("a.b", p(0, 1)).unwrap();
        assert_eq!(
            ns.insert("a.b", p(0, 2)),
            Err(NamespaceError::Duplicate("a.b".into()))
        );
        assert_eq!(
            ns.insert("a.b.c", p(0, 3)),
            Err(NamespaceError::LeafConflict("a.b".into()))
        );
        assert_eq!(
            ns.insert("a", p(0, 4)),
            Err(NamespaceError::LeafConflict("a".into()))
        );
        assert!(matches!(
            ns.insert("a.1x", p(0, 5)),
            Err(NamespaceError::BadName(_))
        ));
        assert!(matches!(
            ns.insert("a..b", p(0, 5)),
            Err(NamespaceError::BadName(_))
        ));
        assert_eq!(ns.len(), 1);
    }

    #[test]
    fn remove_prunes_empty_nodes() {
        let mut ns = Namespace::new();
        ns.insert("x.y.z", p(0, 1)).unwrap();
        ns.insert("x.w", p(0, 2)).unwrap();
        assert_eq!(ns.remove("x.y.z"), Some(p(0, 1)));
        assert!(!ns.contains("x.y"));
        assert!(ns.contains("x.w"));
        assert_eq!(ns.names_of(p(0, 1)).len(), 0);
        assert_eq!(ns.len(), 1);
    }

    #[test]
    fn replace_domain_is_atomic() {
        let mut ns = Namespace::new();
        ns.insert("a.one", Pmid::new(1, 0, 0).unwrap()).unwrap();
        ns.insert("b.one", Pmid::new(2, 0, 0).unwrap()).unwrap();
        let mut newer = Namespace::new();
        newer.insert("b.two", Pmid::new(2, 0, 1).unwrap()).unwrap();
        ns.replace_domain(2, &newer).unwrap();
        assert!(ns.lookup("b.one").is_none());
        assert!(ns.lookup("b.two").is_some());
        let mut bad = Namespace::new();
        bad.insert("a.one", Pmid::new(2, 0, 9).unwrap()).unwrap();
        assert!(ns.replace_domain(2, &bad).is_err());
        assert!(ns.lookup("b.two").is_some());
    }

    proptest::proptest! {
        #[test]
        fn random_names_round_trip(names in proptest::collection::btree_set("[a-c]{1,2}(\\.[a-c]{1,2}){0,3}", 1..60)) {
            let mut ns = Namespace::new();
            let mut accepted = std::collections::BTreeMap::new();
            for (i, n) in names.iter().enumerate() {
                let pmid = Pmid::new(1, 0, i as u32).unwrap();
                // Names that are a prefix of another accepted name (or the
                // reverse) must be rejected; the rest accepted.
                let conflict = accepted.keys().any(|a: &String| {
                    a.starts_with(&format!("{n}.")) || n.starts_with(&format!("{a}."))
                });
                match ns.insert(n, pmid) {
                    Ok(()) => {
                        proptest::prop_assert!(!conflict, "{} accepted despite a conflict", n);
                        accepted.insert(n.clone(), pmid);
                    }
                    Err(_) => proptest::prop_assert!(conflict, "{} rejected without a conflict", n),
                }
            }
            proptest::prop_assert_eq!(ns.len(), accepted.len());
            for (n, p) in &accepted {
                proptest::prop_assert_eq!(ns.lookup(n), Some(*p));
                proptest::prop_assert_eq!(ns.name_of(*p), Some(n.as_str()));
            }
            let all: Vec<String> = ns.traverse("").unwrap().into_iter().map(|x| x.0).collect();
            let mut all_sorted = all.clone();
            all_sorted.sort();
            let expected: Vec<String> = accepted.keys().cloned().collect();
            proptest::prop_assert_eq!(all_sorted, expected);
            for n in accepted.keys() {
                proptest::prop_assert!(ns.remove(n).is_some());
            }
            proptest::prop_assert!(ns.is_empty());
            proptest::prop_assert!(ns.children("").unwrap().is_empty());
        }
    }

    #[test]
    fn sanitize() {
        assert_eq!(sanitize_component("9lives"), "x9lives");
        assert_eq!(sanitize_component("a-b"), "a_b");
        assert!(valid_component(&sanitize_component("")));
    }
}
