//! The built-in bpftrace program: `profile:hz:RATE` samples of kernel and
//! user stacks keyed with pid, tid and comm, optionally off-CPU time per
//! stack from `sched:sched_switch`, printed and cleared every collect
//! interval and followed by a marker line.
//!
//! User stacks are printed in bpftrace's `perf` mode with
//! `BPFTRACE_NO_USER_SYMBOLS=1`, i.e. as bare addresses: bpftrace's own
//! user symbolization is skipped (it is slow, and loses what it cannot
//! name); [`crate::symbolize`] does it with caches. Kernel stacks keep
//! bpftrace's symbols (from kallsyms, cheap).

use crate::config::{ProfilerConfig, TargetMatch};

/// The line the program prints after each interval's maps.
pub const MARKER: &str = "pcp-profile:interval-end";

/// The line the program prints once every probe is attached.
pub const READY: &str = "pcp-profile:ready";

/// What a printed map holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapRole {
    /// CPU samples per stack key.
    Cpu,
    /// The number of CPU samples taken, whether or not their key was kept.
    CpuTotal,
    /// Off-CPU nanoseconds per stack key.
    OffCpu,
}

/// The role of the map printed as `name` (`@cpu0`, `@cpu_total1`...).
pub fn map_role(name: &str) -> Option<MapRole> {
    match name {
        "@cpu0" | "@cpu1" => Some(MapRole::Cpu),
        "@cpu_total0" | "@cpu_total1" => Some(MapRole::CpuTotal),
        "@off0" | "@off1" => Some(MapRole::OffCpu),
        _ => None,
    }
}

/// Which parts a stack key has, in this order: kernel stack, user stack,
/// pid, tid, comm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLayout {
    /// The key starts with a kernel stack.
    pub kernel: bool,
    /// The key has a user stack (after the kernel one).
    pub user: bool,
}

impl KeyLayout {
    /// The layout the program built from `config` prints.
    pub fn of(config: &ProfilerConfig) -> KeyLayout {
        KeyLayout {
            kernel: config.kernel_stacks,
            user: config.user_stacks,
        }
    }
}

/// The environment bpftrace runs with.
pub fn environment(config: &ProfilerConfig) -> Vec<(&'static str, String)> {
    let keys = config
        .caches
        .symbols_map_size
        .max(config.caches.pid_map_size);
    vec![
        ("BPFTRACE_NO_USER_SYMBOLS", "1".into()),
        ("BPFTRACE_NO_CPP_DEMANGLE", "1".into()),
        ("BPFTRACE_MAP_KEYS_MAX", keys.to_string()),
    ]
}

/// The program for `config`.
pub fn program(config: &ProfilerConfig) -> String {
    let layout = KeyLayout::of(config);
    // Only pid targets (and targets_only) can be filtered in the kernel.
    let pids: Vec<u32> = config
        .targets
        .iter()
        .filter_map(|t| match t.matcher {
            TargetMatch::Pid(p) => Some(p),
            _ => None,
        })
        .collect();
    let kernel_filter = if config.targets_only
        && !config.targets.is_empty()
        && pids.len() == config.targets.len()
    {
        let alts: Vec<String> = pids.iter().map(|p| format!("pid == {p}")).collect();
        format!(" && ({})", alts.join(" || "))
    } else {
        String::new()
    };
    let mut stack_parts = Vec::new();
    if layout.kernel {
        stack_parts.push("kstack(perf)");
    }
    if layout.user {
        stack_parts.push("ustack(perf)");
    }
    // Two sets of maps, written in turn (`@phase`): the interval probe
    // flips the phase first, then prints and clears the set no probe
    // writes any more. Printing a map that probes still write, then
    // clearing it, would lose every sample taken in between.
    let mut p = String::new();
    p.push_str("// pcp-profile: stack samples (see pcp-profile/src/script.rs)\n");
    p.push_str(&format!("BEGIN {{ printf(\"{READY}\\n\"); }}\n"));
    let stacks = stack_parts.join(", ");
    p.push_str(&format!(
        "profile:hz:{} /pid != 0{kernel_filter}/ {{\n  if (@phase == 0) {{ @cpu0[{stacks}, pid, tid, comm] = count(); @cpu_total0 = count(); }}\n  else {{ @cpu1[{stacks}, pid, tid, comm] = count(); @cpu_total1 = count(); }}\n}}\n",
        config.sample_rate,
    ));
    if config.off_cpu {
        // At a switch the running task is `prev`: its stacks are where it
        // blocks. The time is known when it is switched back in, as
        // `next`; what it blocked in is kept per thread until then.
        let mut save = String::from("    @off_ts[args->prev_pid] = nsecs;\n");
        let mut load = Vec::new();
        let mut drop = vec!["@off_ts"];
        if layout.kernel {
            save.push_str("    @off_k[args->prev_pid] = kstack(perf);\n");
            load.push("@off_k[args->next_pid]");
            drop.push("@off_k");
        }
        if layout.user {
            save.push_str("    @off_u[args->prev_pid] = ustack(perf);\n");
            load.push("@off_u[args->next_pid]");
            drop.push("@off_u");
        }
        save.push_str("    @off_pid[args->prev_pid] = pid;\n");
        drop.push("@off_pid");
        let deletes = |idx: &str| -> String {
            drop.iter()
                .map(|m| format!("delete({m}[{idx}]); "))
                .collect::<String>()
        };
        let key = format!(
            "{}, @off_pid[args->next_pid], args->next_pid, args->next_comm",
            load.join(", ")
        );
        p.push_str(&format!(
            "tracepoint:sched:sched_switch {{\n  if (args->prev_pid != 0{kernel_filter}) {{\n{save}  }}\n  $t = @off_ts[args->next_pid];\n  if ($t != 0) {{\n    if (@phase == 0) {{ @off0[{key}] = sum(nsecs - $t); }} else {{ @off1[{key}] = sum(nsecs - $t); }}\n    {}\n  }}\n}}\n",
            deletes("args->next_pid").trim_end()
        ));
        p.push_str(&format!(
            "tracepoint:sched:sched_process_exit {{ {}}}\n",
            deletes("tid")
        ));
    }
    let dump = |n: u8| -> String {
        let mut d =
            format!("print(@cpu{n}); print(@cpu_total{n}); clear(@cpu{n}); clear(@cpu_total{n});");
        if config.off_cpu {
            d.push_str(&format!(" print(@off{n}); clear(@off{n});"));
        }
        d
    };
    p.push_str(&format!(
        "interval:ms:{} {{\n  @phase = 1 - @phase;\n  if (@phase == 1) {{ {} }} else {{ {} }}\n  printf(\"{MARKER}\\n\");\n}}\n",
        config.collect_interval.as_millis().max(1),
        dump(0),
        dump(1)
    ));
    // On SIGINT the last, partial interval is printed (both sets: one is
    // empty); the per-thread maps are cleared so that bpftrace's exit
    // dump stays small.
    let mut end = format!(
        "  {}\n  {}\n  printf(\"{MARKER}\\n\");\n  clear(@phase);",
        dump(0),
        dump(1)
    );
    if config.off_cpu {
        end.push_str(" clear(@off_ts); clear(@off_pid);");
        if layout.kernel {
            end.push_str(" clear(@off_k);");
        }
        if layout.user {
            end.push_str(" clear(@off_u);");
        }
    }
    p.push_str(&format!("END {{\n{end}\n}}\n"));
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TargetSpec;
    use std::time::Duration;

    #[test]
    fn default_program_samples_both_stacks_every_interval() {
        let c = ProfilerConfig::default();
        let p = program(&c);
        assert!(p.contains("profile:hz:97 /pid != 0/"), "{p}");
        assert!(p.contains("@cpu0[kstack(perf), ustack(perf), pid, tid, comm] = count();"));
        assert!(p.contains("@cpu1[kstack(perf), ustack(perf), pid, tid, comm] = count();"));
        assert!(p.contains("@phase = 1 - @phase;"));
        assert_eq!(map_role("@cpu_total1"), Some(MapRole::CpuTotal));
        assert_eq!(map_role("@off_ts"), None);
        assert!(p.contains("interval:ms:15000 {"));
        assert!(p.contains(MARKER));
        assert!(!p.contains("sched_switch"));
        let env = environment(&c);
        assert!(env.contains(&("BPFTRACE_NO_USER_SYMBOLS", "1".into())));
        assert!(env.contains(&("BPFTRACE_MAP_KEYS_MAX", "16384".into())));
    }

    #[test]
    fn pid_targets_filter_in_the_kernel_and_stacks_can_be_dropped() {
        let c = ProfilerConfig {
            targets: vec![
                TargetSpec::parse("a=pid:12").unwrap(),
                TargetSpec::parse("b=pid:34").unwrap(),
            ],
            user_stacks: false,
            off_cpu: true,
            collect_interval: Duration::from_secs(2),
            ..ProfilerConfig::default()
        };
        let p = program(&c);
        assert!(p.contains("/pid != 0 && (pid == 12 || pid == 34)/"), "{p}");
        assert!(p.contains("@cpu0[kstack(perf), pid, tid, comm]"), "{p}");
        assert!(!p.contains("ustack"));
        assert!(p.contains("@off1[@off_k[args->next_pid], @off_pid[args->next_pid], args->next_pid, args->next_comm] = sum(nsecs - $t);"), "{p}");
        assert!(p.contains("if (args->prev_pid != 0 && (pid == 12 || pid == 34))"));
        // A comm target needs every process's samples.
        let c = ProfilerConfig {
            targets: vec![TargetSpec::parse("comm:x").unwrap()],
            ..ProfilerConfig::default()
        };
        assert!(program(&c).contains("/pid != 0/"));
    }
}
