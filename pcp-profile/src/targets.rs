//! Target groups: which group a sampled process belongs to (the first
//! `--targets` entry it matches, else the default group unless
//! `targets_only`), and the labels of each group.
//!
//! Matching by command name, cgroup or container needs the process's
//! facts, read from /proc and kept per pid (`container_id_cache_size`)
//! for one interval: a process that moved to another cgroup or exec'd
//! another program is grouped by its new facts from the next interval.

use crate::config::{ProfilerConfig, TargetMatch, TargetSpec};
use crate::lru::Lru;
use crate::procinfo::{self, ProcMeta};

/// A group: index into the targets, or the default group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// The `n`th target.
    Target(usize),
    /// Processes that match no target (when they are kept).
    Default,
}

#[derive(Debug)]
struct Cached {
    meta: Option<ProcMeta>,
    checked: u64,
}

/// Maps processes to groups.
#[derive(Debug)]
pub struct Targets {
    specs: Vec<TargetSpec>,
    keep_unmatched: bool,
    default_name: String,
    hostname: String,
    needs_meta: bool,
    cache: Lru<u32, Cached>,
    interval: u64,
}

impl Targets {
    /// The groups `config` defines.
    pub fn new(config: &ProfilerConfig) -> Targets {
        Targets {
            needs_meta: config
                .targets
                .iter()
                .any(|t| !matches!(t.matcher, TargetMatch::Pid(_))),
            specs: config.targets.clone(),
            keep_unmatched: config.targets.is_empty() || !config.targets_only,
            default_name: config.default_service_name.clone(),
            hostname: config.hostname.clone(),
            cache: Lru::new(config.caches.container_id_cache_size),
            interval: 1,
        }
    }

    /// Starts a new interval: cached process facts are checked again.
    pub fn next_interval(&mut self) {
        self.interval += 1;
    }

    /// The group of process `pid`; `comm` is the sampled thread's name,
    /// used when the process is already gone.
    pub fn group_of(&mut self, pid: u32, comm: &str) -> Option<Group> {
        let meta = if self.needs_meta {
            self.meta(pid)
        } else {
            None
        };
        for (i, t) in self.specs.iter().enumerate() {
            let hit = match &t.matcher {
                TargetMatch::Pid(p) => *p == pid,
                TargetMatch::Comm(re) => re.is_match(meta.as_ref().map_or(comm, |m| &m.comm)),
                TargetMatch::Cgroup(path) => meta.as_ref().is_some_and(|m| {
                    path == "/"
                        || m.cgroup == *path
                        || m.cgroup
                            .strip_prefix(path.as_str())
                            .is_some_and(|r| r.starts_with('/'))
                }),
                TargetMatch::Container(id) => meta
                    .as_ref()
                    .and_then(|m| m.container_id.as_deref())
                    .is_some_and(|c| c.starts_with(id.as_str())),
            };
            if hit {
                return Some(Group::Target(i));
            }
        }
        self.keep_unmatched.then_some(Group::Default)
    }

    /// `pid`'s facts: read once per interval. They are read again in the
    /// next one, not only checked by start time: a process keeps its start
    /// time when it moves to another cgroup (a container runtime,
    /// `systemd-run --scope`, `cgclassify`) or execs another program (a new
    /// `comm`), and is grouped by where and what it is now.
    fn meta(&mut self, pid: u32) -> Option<ProcMeta> {
        let interval = self.interval;
        let known = match self.cache.get(&pid) {
            Some(c) if c.checked == interval => return c.meta.clone(),
            Some(c) => c.meta.take(),
            None => None,
        };
        // Gone: what we knew is the best there is.
        let meta = procinfo::read_meta(pid).or(known);
        self.cache.insert(
            pid,
            Cached {
                meta: meta.clone(),
                checked: interval,
            },
        );
        meta
    }

    /// The `service_name` of a group.
    pub fn service_name(&self, g: Group) -> &str {
        match g {
            Group::Target(i) => &self.specs[i].service_name,
            Group::Default => &self.default_name,
        }
    }

    /// The labels of a group: `service_name`, `host`, and what the target
    /// selects (`pid`, `comm`, `cgroup`, `container_id`).
    pub fn labels(&self, g: Group) -> Vec<(String, String)> {
        let mut l = vec![
            ("service_name".to_string(), self.service_name(g).to_string()),
            ("host".to_string(), self.hostname.clone()),
        ];
        if let Group::Target(i) = g {
            let (k, v) = match &self.specs[i].matcher {
                TargetMatch::Pid(p) => ("pid", p.to_string()),
                TargetMatch::Comm(re) => ("comm", re.as_str().to_string()),
                TargetMatch::Cgroup(c) => ("cgroup", c.clone()),
                TargetMatch::Container(c) => ("container_id", c.clone()),
            };
            l.push((k.to_string(), v));
        }
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(specs: &[&str], only: bool) -> ProfilerConfig {
        ProfilerConfig {
            targets: specs
                .iter()
                .map(|s| TargetSpec::parse(s).unwrap())
                .collect(),
            targets_only: only,
            hostname: "h".into(),
            ..ProfilerConfig::default()
        }
    }

    #[test]
    fn first_matching_target_wins() {
        let me = std::process::id();
        let comm = procinfo::read_meta(me).unwrap().comm;
        let mut t = Targets::new(&config(
            &[
                &format!("mine=pid:{me}"),
                &format!("c=comm:^{}$", regex::escape(&comm)),
            ],
            true,
        ));
        assert_eq!(t.group_of(me, "x"), Some(Group::Target(0)));
        // Process 1 matches nothing and targets_only drops it.
        assert_eq!(t.group_of(1, "init"), None);
        let l = t.labels(Group::Target(0));
        assert!(l.contains(&("service_name".into(), "mine".into())));
        assert!(l.contains(&("pid".into(), me.to_string())));
        assert!(l.contains(&("host".into(), "h".into())));
    }

    #[test]
    fn without_targets_everything_is_the_default_group() {
        let mut t = Targets::new(&config(&[], true));
        assert_eq!(t.group_of(1, "init"), Some(Group::Default));
        assert_eq!(t.service_name(Group::Default), "unspecified");
        let mut t = Targets::new(&config(&["pid:999999"], false));
        assert_eq!(t.group_of(1, "init"), Some(Group::Default));
    }

    #[test]
    fn a_process_is_grouped_by_its_facts_of_this_interval() {
        use std::io::Write;
        // A shell that execs `sleep` when told: same pid and start time,
        // another comm (as a process moved to another cgroup keeps both).
        let mut child = std::process::Command::new("sh")
            .args(["-c", "read x; exec sleep 30"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let comm = || procinfo::read_meta(pid).map(|m| m.comm);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while comm().as_deref() != Some("sh") && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let mut t = Targets::new(&config(&["comm:^sleep$"], true));
        let before = t.group_of(pid, "sleep");
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        while comm().as_deref() != Some("sleep") && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let exec_seen = comm().as_deref() == Some("sleep");
        // Within an interval the facts read first stand.
        let same_interval = t.group_of(pid, "sleep");
        t.next_interval();
        let next_interval = t.group_of(pid, "sleep");
        let _ = child.kill();
        let _ = child.wait();
        assert!(exec_seen, "the shell did not exec sleep");
        assert_eq!(before, None, "the shell is not sleep");
        assert_eq!(same_interval, None);
        assert_eq!(next_interval, Some(Group::Target(0)));
    }

    #[test]
    fn cgroup_targets_match_the_subtree() {
        let me = std::process::id();
        let cg = procinfo::read_meta(me).unwrap().cgroup;
        let mut t = Targets::new(&config(&[&format!("cgroup:{cg}")], true));
        assert_eq!(t.group_of(me, ""), Some(Group::Target(0)));
        if cg != "/" {
            let mut t = Targets::new(&config(&[&format!("cgroup:{cg}x")], true));
            assert_eq!(t.group_of(me, ""), None, "a sibling with a longer name");
        }
    }
}
