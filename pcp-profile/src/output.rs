//! The output directory: one `SERVICE-TYPE-YYYYMMDDTHHMMSSZ-SEQ.pb.gz` per
//! interval, target group and profile type, written atomically (temporary
//! file, then rename), the oldest removed once more than `max_files` are
//! there. Only files named that way are ever removed.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use regex::Regex;

use crate::error::ProfileError;
use crate::model::ProfileKind;

/// Writes and rotates profile files.
#[derive(Debug)]
pub struct OutputDir {
    dir: PathBuf,
    max_files: usize,
    files: VecDeque<PathBuf>,
    seq: u64,
}

fn pattern() -> Regex {
    Regex::new(r"^.+-(cpu|off_cpu)-\d{8}T\d{6}Z-\d+\.pb\.gz$").expect("valid")
}

impl OutputDir {
    /// Opens (creating) `dir`; files of ours already there count toward
    /// `max_files`, oldest first.
    pub fn open(dir: &Path, max_files: usize) -> Result<OutputDir, ProfileError> {
        std::fs::create_dir_all(dir).map_err(|e| ProfileError::io(dir, e))?;
        let re = pattern();
        // Oldest first: by time, then by the sequence number in the name
        // (files written within one clock tick).
        let seq_of = |name: &str| -> u64 {
            name.trim_end_matches(".pb.gz")
                .rsplit('-')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        let mut found: Vec<(SystemTime, u64, PathBuf)> = std::fs::read_dir(dir)
            .map_err(|e| ProfileError::io(dir, e))?
            .filter_map(|e| e.ok())
            .filter(|e| re.is_match(&e.file_name().to_string_lossy()))
            .filter_map(|e| {
                let seq = seq_of(&e.file_name().to_string_lossy());
                Some((e.metadata().ok()?.modified().ok()?, seq, e.path()))
            })
            .collect();
        found.sort();
        let mut out = OutputDir {
            dir: dir.to_path_buf(),
            max_files: max_files.max(1),
            files: found.into_iter().map(|(_, _, p)| p).collect(),
            seq: 0,
        };
        out.rotate();
        Ok(out)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes one profile file and returns its path.
    pub fn write(
        &mut self,
        service: &str,
        kind: ProfileKind,
        start: SystemTime,
        bytes: &[u8],
    ) -> Result<PathBuf, ProfileError> {
        let (name, path) = loop {
            self.seq += 1;
            let name = format!(
                "{}-{}-{}-{}.pb.gz",
                file_safe(service),
                kind.name(),
                utc_stamp(start),
                self.seq
            );
            let path = self.dir.join(&name);
            if !path.exists() {
                break (name, path);
            }
        };
        let tmp = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).map_err(|e| ProfileError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            ProfileError::io(&path, e)
        })?;
        self.files.push_back(path.clone());
        self.rotate();
        Ok(path)
    }

    fn rotate(&mut self) {
        while self.files.len() > self.max_files {
            if let Some(old) = self.files.pop_front() {
                let _ = std::fs::remove_file(old);
            }
        }
    }
}

/// A name safe as part of a file name.
pub fn file_safe(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if t.is_empty() || t.starts_with('.') {
        format!("_{t}")
    } else {
        t
    }
}

/// `YYYYMMDDTHHMMSSZ` of `t` in UTC.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// assert_eq!(pcp_profile::output::utc_stamp(t), "20231114T221320Z");
/// ```
pub fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_removes_only_our_oldest_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("notes.pb.gz"), b"keep").unwrap();
        let mut o = OutputDir::open(d.path(), 2).unwrap();
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let a = o.write("svc/x", ProfileKind::Cpu, t, b"1").unwrap();
        let b = o.write("svc/x", ProfileKind::OffCpu, t, b"2").unwrap();
        assert!(a
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("svc_x-cpu-20231114T221320Z-"));
        let c = o.write("svc", ProfileKind::Cpu, t, b"3").unwrap();
        assert!(!a.exists() && b.exists() && c.exists());
        assert!(d.path().join("notes.pb.gz").exists());
        // Reopening counts what is there.
        let mut o = OutputDir::open(d.path(), 1).unwrap();
        assert!(!b.exists() && c.exists());
        o.write("svc", ProfileKind::Cpu, t, b"4").unwrap();
        assert!(!c.exists());
        assert_eq!(file_safe(".."), "_..");
    }
}
