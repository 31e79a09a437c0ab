//! The health of md (software RAID) devices: the wait status of
//! `mdadm --detail --test`, run with a time limit.

use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long `mdadm --detail --test` may take for one md device.
pub(crate) const MDADM_TIMEOUT: Duration = Duration::from_secs(1);

/// Runs `cmd` with no input or output and waits at most `limit` for it:
/// its exit status, or `None` when it could not start or ran too long (it
/// is then killed and reaped).
pub(crate) fn run_bounded(cmd: &mut Command, limit: Duration) -> Option<ExitStatus> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_micros(200);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_runs_give_the_status_or_nothing_past_the_limit() {
        let ok = run_bounded(&mut Command::new("true"), Duration::from_secs(5));
        assert_eq!(ok.map(|s| s.code()), Some(Some(0)));
        let failed = run_bounded(
            Command::new("sh").args(["-c", "exit 2"]),
            Duration::from_secs(5),
        );
        assert_eq!(failed.map(|s| s.code()), Some(Some(2)));
        assert!(run_bounded(
            &mut Command::new("/no/such/program"),
            Duration::from_secs(1)
        )
        .is_none());
        // A program that hangs is killed at the limit.
        let t0 = Instant::now();
        let hung = run_bounded(Command::new("sleep").arg("30"), Duration::from_millis(300));
        assert!(hung.is_none());
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    }
}
