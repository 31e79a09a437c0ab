//! `/proc/PID/stat`: one line of space-separated fields after the pid and
//! the command name in parentheses (which may itself hold spaces and
//! parentheses, so it ends at the *last* `)`). Field meanings and units
//! are proc(5)'s; times are in clock ticks, `rss` in pages, `vsize` in
//! bytes. Kernels older than 2.6.24 lack the trailing guest fields; they
//! read as zero.

/// The fields of `/proc/PID/stat` the agent serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PidStat {
    /// Command name (comm), at most 15 bytes.
    pub cmd: String,
    /// State letter (R, S, D, Z, T, t, X, I...).
    pub state: u8,
    /// Parent pid.
    pub ppid: u32,
    /// Process group.
    pub pgrp: u32,
    /// Session.
    pub session: u32,
    /// Controlling terminal device number.
    pub tty: u32,
    /// Foreground process group of the terminal (-1 for none).
    pub tty_pgrp: i32,
    /// Kernel flags (PF_*).
    pub flags: u32,
    /// Minor faults.
    pub minflt: u64,
    /// Minor faults of waited-for children.
    pub cminflt: u64,
    /// Major faults.
    pub majflt: u64,
    /// Major faults of waited-for children.
    pub cmajflt: u64,
    /// User time, ticks.
    pub utime: u64,
    /// System time, ticks.
    pub stime: u64,
    /// Children's user time, ticks.
    pub cutime: u64,
    /// Children's system time, ticks.
    pub cstime: u64,
    /// Scheduling priority.
    pub priority: i64,
    /// Nice value.
    pub nice: i64,
    /// Threads.
    pub threads: u64,
    /// Obsolete interval timer (0).
    pub it_real_value: u64,
    /// Start time after boot, ticks.
    pub start_time: u64,
    /// Virtual size, bytes.
    pub vsize: u64,
    /// Resident set, pages.
    pub rss: u64,
    /// RSS limit, bytes.
    pub rss_rlim: u64,
    /// Start of text.
    pub start_code: u64,
    /// End of text.
    pub end_code: u64,
    /// Start of stack.
    pub start_stack: u64,
    /// Stack pointer.
    pub esp: u64,
    /// Instruction pointer.
    pub eip: u64,
    /// Pending signals (obsolete decimal bitmap).
    pub signal: u64,
    /// Blocked signals.
    pub blocked: u64,
    /// Ignored signals.
    pub sigignore: u64,
    /// Caught signals.
    pub sigcatch: u64,
    /// Wait channel address.
    pub wchan: u64,
    /// Pages swapped (unmaintained).
    pub nswap: u64,
    /// Children's pages swapped (unmaintained).
    pub cnswap: u64,
    /// Signal sent to the parent at exit.
    pub exit_signal: u64,
    /// CPU last run on.
    pub processor: u64,
    /// Real-time priority.
    pub rt_priority: u64,
    /// Scheduling policy.
    pub policy: u64,
    /// Block I/O delay, ticks.
    pub delayacct_blkio: u64,
    /// Guest time, ticks.
    pub guest_time: u64,
    /// Children's guest time, ticks.
    pub cguest_time: u64,
}

/// Why a stat line did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("/proc/PID/stat: {0}")]
pub struct StatError(&'static str);

/// Parses the text of `/proc/PID/stat`.
///
/// ```
/// use pmda_proc::stat::parse;
/// let s = parse(b"42 (a (b) c) S 1 42 42 0 -1 4194560 10 0 2 0 7 3 0 0 20 0 1 0 100 1000 5 18446744073709551615 1 2 3 0 0 0 0 0 0 0 0 0 17 1 0 0 4 0 0").unwrap();
/// assert_eq!((s.cmd.as_str(), s.state, s.ppid, s.utime, s.tty_pgrp), ("a (b) c", b'S', 1, 7, -1));
/// assert_eq!((s.priority, s.processor, s.delayacct_blkio), (20, 1, 4));
/// ```
pub fn parse(text: &[u8]) -> Result<PidStat, StatError> {
    let open = text
        .iter()
        .position(|&b| b == b'(')
        .ok_or(StatError("no '('"))?;
    let close = text
        .iter()
        .rposition(|&b| b == b')')
        .ok_or(StatError("no ')'"))?;
    if close < open {
        return Err(StatError("')' before '('"));
    }
    let cmd = String::from_utf8_lossy(&text[open + 1..close]).into_owned();
    let rest = text.get(close + 1..).unwrap_or(&[]);
    let mut f = rest
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    let state = f
        .next()
        .and_then(|s| s.first().copied())
        .ok_or(StatError("no state"))?;
    let mut nums = [0i64; 41];
    let mut unsigned = [0u64; 41];
    let mut n = 0;
    for w in f.take(41) {
        let s = std::str::from_utf8(w).map_err(|_| StatError("not text"))?;
        if let Some(neg) = s.strip_prefix('-') {
            let v: i64 = neg.parse().map_err(|_| StatError("bad number"))?;
            nums[n] = -v;
            unsigned[n] = (-v) as u64;
        } else {
            let v: u64 = s.parse().map_err(|_| StatError("bad number"))?;
            unsigned[n] = v;
            nums[n] = v as i64;
        }
        n += 1;
    }
    if n < 36 {
        return Err(StatError("too few fields"));
    }
    let u = |i: usize| unsigned[i];
    Ok(PidStat {
        cmd,
        state,
        ppid: u(0) as u32,
        pgrp: u(1) as u32,
        session: u(2) as u32,
        tty: u(3) as u32,
        tty_pgrp: nums[4] as i32,
        flags: u(5) as u32,
        minflt: u(6),
        cminflt: u(7),
        majflt: u(8),
        cmajflt: u(9),
        utime: u(10),
        stime: u(11),
        cutime: u(12),
        cstime: u(13),
        priority: nums[14],
        nice: nums[15],
        threads: u(16),
        it_real_value: u(17),
        start_time: u(18),
        vsize: u(19),
        rss: u(20),
        rss_rlim: u(21),
        start_code: u(22),
        end_code: u(23),
        start_stack: u(24),
        esp: u(25),
        eip: u(26),
        signal: u(27),
        blocked: u(28),
        sigignore: u(29),
        sigcatch: u(30),
        wchan: u(31),
        nswap: u(32),
        cnswap: u(33),
        exit_signal: u(34),
        processor: u(35),
        rt_priority: u(36),
        policy: u(37),
        delayacct_blkio: u(38),
        guest_time: u(39),
        cguest_time: u(40),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_parses() {
        let text = std::fs::read("/proc/self/stat").unwrap();
        let s = parse(&text).unwrap();
        assert_eq!(s.ppid as i32, unsafe { libc::getppid() });
        assert!(s.vsize > 0 && s.rss > 0);
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"1 (x",
            b"1 x) S",
            b"1 (x) S 1 2",
            b"1 (x) S a b c",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
