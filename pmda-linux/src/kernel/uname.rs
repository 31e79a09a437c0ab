//! The kernel's identification: uname(2) on the live system (for a
//! client's container, in a thread that joined its UTS namespace: see
//! `src/namespace.rs`), the `/proc/sys/kernel` files elsewhere, and the
//! distribution's name from the host's release files under `/etc`.

use std::path::Path;

use pcp_core::PmError;

use crate::namespace::{Namespace, View};
use crate::system::System;

/// The uname fields: system name, node name, release, version, machine.
pub(crate) type Uname = [Result<String, PmError>; 5];

/// The `/proc/sys/kernel` files of each uname field on a fixture root
/// (`arch` is pmdalinux's own stand-in for `uname -m`).
const FILES: [&str; 5] = [
    "proc/sys/kernel/ostype",
    "proc/sys/kernel/hostname",
    "proc/sys/kernel/osrelease",
    "proc/sys/kernel/version",
    "proc/sys/kernel/arch",
];

/// The uname fields of the fetch's UTS namespace: from one uname(2) on
/// the live system, from the files under the root (a container's: under
/// its process's root) otherwise. When the container's namespace cannot
/// be joined, every field fails with the reason.
pub(crate) fn read(sys: &mut System) -> Uname {
    if sys.live() {
        match sys.in_namespace(Namespace::Uts, uname) {
            Ok(Some(u)) => return u.map(Ok),
            Ok(None) => {}
            Err(e) => return std::array::from_fn(|_| Err(e)),
        }
    }
    match sys.view() {
        View::Host => FILES.map(|f| sys.kept_text(f)),
        view => FILES.map(|f| {
            sys.attr(&view.root_rel(f))
                .ok_or(PmError::from_errno(libc::ENOENT))
        }),
    }
}

fn uname() -> Option<[String; 5]> {
    // SAFETY: uname fills a zeroed utsname; fields are NUL-terminated.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let f = |c: &[libc::c_char]| {
        let b: Vec<u8> = c
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&b).into_owned()
    };
    Some([
        f(&u.sysname),
        f(&u.nodename),
        f(&u.release),
        f(&u.version),
        f(&u.machine),
    ])
}

/// The distribution name as pmdalinux 6.0.3 builds it: the first line of
/// the first of its release files under `ROOT/etc` that opens (Debian's
/// version file gets a "Debian " prefix, lsb-release loses a leading
/// `DISTRIB_ID=`), "?" when none opens or the one that opens reads empty.
pub(crate) fn distro(root: &Path) -> String {
    let etc = root.join("etc");
    for (file, prefix) in [
        ("debian_version", "Debian "),
        ("oracle-release", ""),
        ("fedora-release", ""),
        ("redhat-release", ""),
        ("slackware-version", ""),
        ("SuSE-release", ""),
        ("lsb-release", ""),
    ] {
        let Ok(mut f) = std::fs::File::open(etc.join(file)) else {
            continue;
        };
        let mut bytes = Vec::new();
        if std::io::Read::read_to_end(&mut f, &mut bytes).is_err() || bytes.is_empty() {
            return "?".to_string();
        }
        return release_name(&bytes, file == "lsb-release", prefix);
    }
    "?".to_string()
}

/// The name in a release file's bytes: up to a NUL (a C string), without
/// lsb-release's `DISTRIB_ID=`, its first line, after `prefix`.
fn release_name(bytes: &[u8], lsb: bool, prefix: &str) -> String {
    let bytes = match bytes.iter().position(|&b| b == 0) {
        Some(nul) => &bytes[..nul],
        None => bytes,
    };
    let text = String::from_utf8_lossy(bytes);
    let mut text: &str = &text;
    if lsb {
        for id in ["DISTRIB_ID = ", "DISTRIB_ID="] {
            text = text.strip_prefix(id).unwrap_or(text);
        }
    }
    let first = text.split('\n').next().unwrap_or("");
    format!("{prefix}{first}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distro_names_as_pmdalinux_builds_them() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        assert_eq!(distro(dir.path()), "?");
        std::fs::write(etc.join("os-release"), "PRETTY_NAME=\"X\"\n").unwrap();
        assert_eq!(
            distro(dir.path()),
            "?",
            "pmdalinux 6.0.3 reads no os-release"
        );
        std::fs::write(
            etc.join("lsb-release"),
            "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\n",
        )
        .unwrap();
        assert_eq!(distro(dir.path()), "Ubuntu");
        std::fs::write(
            etc.join("redhat-release"),
            "Red Hat Enterprise Linux release 9.3 (Plow)\n",
        )
        .unwrap();
        assert_eq!(
            distro(dir.path()),
            "Red Hat Enterprise Linux release 9.3 (Plow)"
        );
        std::fs::write(etc.join("debian_version"), "").unwrap();
        assert_eq!(distro(dir.path()), "?", "the first file that opens decides");
        std::fs::write(etc.join("debian_version"), "bookworm/sid\n").unwrap();
        assert_eq!(distro(dir.path()), "Debian bookworm/sid");
        assert_eq!(release_name(b"12.4\0junk", false, "Debian "), "Debian 12.4");
    }
}
