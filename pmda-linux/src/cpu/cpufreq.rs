//! CPU frequency scaling figures (hinv.cpu.frequency_scaling.*) from
//! `/sys/devices/system/cpu/cpuN/cpufreq`, as pmdalinux 6.0.3 gives them.
//!
//! With the cpufreq statistics (`stats/time_in_state`: one line per
//! frequency in kHz with the time spent at it), `count` is the sum over
//! the lines of the frequency in MHz (kHz divided by 1000, rounding down)
//! times the time, `time` the sum of the times, and `max` and `min` the
//! highest and lowest frequency listed, in MHz. Without them, `count` is
//! the current frequency (`scaling_cur_freq`) in MHz, `time` has no value,
//! and `max` and `min` come from `cpuinfo_max_freq` and `cpuinfo_min_freq`.
//! A figure whose file is missing has no value.
//!
//! pmdalinux samples a CPU's figures once and keeps them until its next
//! refresh of /proc/cpuinfo (a fetch that includes a hinv.cpu or
//! hinv.map.cpu figure); the agent keeps [`Sample`]s the same way.

use std::path::Path;

/// One CPU's figures: count, time, max, min.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// Frequency (MHz) times time, summed; or the current frequency.
    pub count: Option<u64>,
    /// Time at any frequency (the statistics' units).
    pub time: Option<u64>,
    /// Highest frequency in MHz.
    pub max: Option<u64>,
    /// Lowest frequency in MHz.
    pub min: Option<u64>,
}

impl Sample {
    /// Figure `i`: count (0), time (1), max (2), min (3).
    pub fn get(&self, i: u8) -> Option<u64> {
        match i {
            0 => self.count,
            1 => self.time,
            2 => self.max,
            _ => self.min,
        }
    }
}

fn number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Parses `time_in_state` text into a sample.
pub fn from_time_in_state(text: &str) -> Sample {
    let mut s = Sample {
        count: Some(0),
        time: Some(0),
        ..Default::default()
    };
    for l in text.lines() {
        let mut f = l.split_whitespace();
        let (Some(Ok(khz)), Some(Ok(t))) = (
            f.next().map(str::parse::<u64>),
            f.next().map(str::parse::<u64>),
        ) else {
            continue;
        };
        let mhz = khz / 1000;
        s.count = s.count.map(|c| c.wrapping_add(mhz.wrapping_mul(t)));
        s.time = s.time.map(|c| c.wrapping_add(t));
        s.max = Some(s.max.map_or(mhz, |m| m.max(mhz)));
        s.min = Some(s.min.map_or(mhz, |m| m.min(mhz)));
    }
    s
}

/// Samples CPU `cpu`'s figures under `root`.
pub fn sample(root: &Path, cpu: u32) -> Sample {
    let dir = root.join(format!("sys/devices/system/cpu/cpu{cpu}/cpufreq"));
    if let Ok(text) = std::fs::read_to_string(dir.join("stats/time_in_state")) {
        return from_time_in_state(&text);
    }
    let mhz = |f: &str| number(&dir.join(f)).map(|k| k / 1000);
    Sample {
        count: mhz("scaling_cur_freq"),
        time: None,
        max: mhz("cpuinfo_max_freq"),
        min: mhz("cpuinfo_min_freq"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_lines() {
        let s = from_time_in_state("3500999 100\n1999 3\n4000000 0\n");
        assert_eq!(s.count, Some(3500 * 100 + 3));
        assert_eq!(s.time, Some(103));
        assert_eq!((s.max, s.min), (Some(4000), Some(1)));
    }
}
