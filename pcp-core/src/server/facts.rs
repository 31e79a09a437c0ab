//! Facts about this process and host that pmcd publishes as `pmcd.*`:
//! the timezone (as PCP writes it into archive labels), the zoneinfo
//! name, CPU time, data size, open descriptors, dates in `ctime` form.

use std::time::{SystemTime, UNIX_EPOCH};

/// The timezone as pmcd gives it: `$TZ` when set to a rule (not a
/// `:file`), else the local zone's abbreviation and its offset west of
/// UTC in hours (`UTC`, `AEST-10`, `IST-5:30`), the form PCP writes into
/// archive labels and hands to `TZ` when reporting in the host's zone.
pub fn timezone() -> String {
    match std::env::var("TZ") {
        Ok(tz) if !tz.is_empty() && !tz.starts_with(':') => tz,
        _ => squashed_timezone(),
    }
}

extern "C" {
    /// POSIX tzset(3): reads TZ (or /etc/localtime) into the C library.
    fn tzset();
}

fn squashed_timezone() -> String {
    // SAFETY: tzset and localtime_r only read the environment and the
    // zone files; `tm` is a valid out-parameter; tm_zone points into
    // static storage of the C library that stays valid.
    let (name, offset_west) = unsafe {
        tzset();
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return "UTC".to_string();
        }
        let name = if tm.tm_zone.is_null() {
            "UTC".to_string()
        } else {
            std::ffi::CStr::from_ptr(tm.tm_zone)
                .to_string_lossy()
                .into_owned()
        };
        (name, -tm.tm_gmtoff)
    };
    if offset_west == 0 {
        return name;
    }
    let hours = offset_west / 3600;
    let mins = ((offset_west % 3600) / 60).abs();
    if mins == 0 {
        format!("{name}{hours:+}")
    } else {
        format!("{name}{hours:+}:{mins:02}")
    }
}

/// The zoneinfo name of the local zone as pmcd gives it (`:Etc/UTC`):
/// where /etc/localtime points below a `zoneinfo` directory; empty when it
/// is not a link there.
pub fn zoneinfo() -> String {
    let Ok(target) = std::fs::read_link("/etc/localtime") else {
        return String::new();
    };
    let t = target.to_string_lossy();
    match t.find("/zoneinfo/") {
        Some(i) => format!(":{}", &t[i + "/zoneinfo/".len()..]),
        None => String::new(),
    }
}

/// This host's name (gethostname), as pmcd's `hostname` label.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname
    // NUL-terminates within it on success.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) == 0 };
    if !ok {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// User plus system CPU time of this process, in milliseconds.
pub fn cpu_millis() -> u64 {
    // SAFETY: getrusage fills the valid struct it is given.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            return 0;
        }
        ru
    };
    let ms = |tv: libc::timeval| tv.tv_sec as u64 * 1000 + tv.tv_usec as u64 / 1000;
    ms(ru.ru_utime) + ms(ru.ru_stime)
}

/// The data segment of this process in KiB (VmData).
pub fn data_kib() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmData:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// The highest open file descriptor of this process.
pub fn highest_fd() -> u32 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// `t` as C's `ctime` prints it, in local time, without the newline
/// (`Sat Dec  5 08:10:18 2026`).
pub fn ctime(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as libc::time_t;
    // SAFETY: localtime_r fills the valid struct it is given.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return String::new();
        }
        tm
    };
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[tm.tm_wday.rem_euclid(7) as usize],
        MONTHS[tm.tm_mon.rem_euclid(12) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        1900 + tm.tm_year
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_has_cs_layout() {
        let s = ctime(SystemTime::now());
        // "Www Mmm dd hh:mm:ss yyyy"
        assert_eq!(s.len(), 24, "{s:?}");
        assert_eq!(&s[3..4], " ");
        assert_eq!(&s[13..14], ":");
    }

    #[test]
    fn process_facts_are_plausible() {
        assert!(data_kib() > 0);
        assert!(highest_fd() >= 2);
        assert!(!hostname().is_empty());
        let tz = timezone();
        assert!(!tz.is_empty());
        let z = zoneinfo();
        assert!(z.is_empty() || z.starts_with(':'));
    }
}
