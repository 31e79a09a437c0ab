//! The `swapdev` collector: active swap areas from `/proc/swaps`
//! (`swapdev.*`), one instance per device or file.

use pcp_core::PmError;

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::Id;
use crate::descs;
use crate::parse::{fields, lines, ParseError};
use crate::rows::Rows;
use crate::system::{Failure, System};

/// One active swap area of /proc/swaps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwapArea {
    /// The device or file path (the instance name).
    pub path: String,
    /// Size in Kbytes.
    pub size: u32,
    /// Kbytes in use.
    pub used: u32,
    /// Priority.
    pub priority: i32,
}

/// Parses /proc/swaps. As pmdalinux does, only lines naming a path
/// (starting with `/`) and carrying five fields are swap areas; the header
/// and anything else is skipped. A number that does not parse is a format
/// error. Each path is listed once, as pmdalinux matches areas by path.
pub fn parse(buf: &[u8]) -> Result<Vec<SwapArea>, ParseError> {
    let mut out: Vec<SwapArea> = Vec::new();
    for line in lines(buf) {
        if line.first() != Some(&b'/') {
            continue;
        }
        let f: Vec<&[u8]> = fields(line).collect();
        if f.len() < 5 {
            continue;
        }
        let num = |x: &[u8]| std::str::from_utf8(x).ok()?.parse::<i64>().ok();
        let (Some(size), Some(used), Some(prio)) = (num(f[2]), num(f[3]), num(f[4])) else {
            return Err(ParseError::line("swaps", line));
        };
        let path = String::from_utf8_lossy(f[0]).into_owned();
        if out.iter().any(|a| a.path == path) {
            continue;
        }
        out.push(SwapArea {
            path,
            size: size as u32,
            used: used as u32,
            priority: prio as i32,
        });
    }
    Ok(out)
}

/// /proc/swaps.
const SWAPS: Need = Need::new(Id::Swapdev, 0);

/// The collector's state.
#[derive(Debug, Default)]
pub struct Swapdev {
    areas: Rows<SwapArea>,
}

impl Swapdev {
    pub(crate) fn new(_: &System) -> Swapdev {
        Swapdev::default()
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        if want & SWAPS.bit != 0 {
            let areas = &mut self.areas;
            sys.load(SWAPS, "proc/swaps", |r| match r {
                // No swap support: no swap areas, as pmdalinux reports it.
                Err(e) if e == PmError::from_errno(libc::ENOENT) => {
                    areas.clear();
                    Ok(())
                }
                Err(e) => Err(Failure::Errno(e)),
                Ok(b) => {
                    areas.set(parse(b)?, |a| &a.path);
                    Ok(())
                }
            });
        }
    }
}

/// The swapdev collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::new("swapdev.free", &[SWAPS], |c, _, out| {
        c.swapdev
            .areas
            .put_u64(out, |a| Some(a.size.wrapping_sub(a.used) as u64));
        Ok(())
    })
    .help(
        "free space per swap area",
        "Size minus space in use of each swap device or file, in Kbytes, from /proc/swaps.",
    ),
    Binding::new("swapdev.length", &[SWAPS], |c, _, out| {
        c.swapdev.areas.put_u64(out, |a| Some(a.size as u64));
        Ok(())
    })
    .help(
        "size of each swap area",
        "Size of each swap device or file in Kbytes, from /proc/swaps.",
    ),
    Binding::new("swapdev.maxswap", &[SWAPS], |c, _, out| {
        c.swapdev.areas.put_u64(out, |a| Some(a.size as u64));
        Ok(())
    })
    .help(
        "largest size of each swap area",
        "The size each swap area may reach, in Kbytes: Linux swap areas do not grow, so this is their size.",
    ),
    Binding::new("swapdev.vlength", &[SWAPS], |c, _, out| {
        c.swapdev.areas.put_u64(out, |_| Some(0));
        Ok(())
    })
    .help(
        "virtual swap size (always zero)",
        "Virtual swap space of each area; Linux has none, so the value is zero.",
    ),
    Binding::new("swapdev.priority", &[SWAPS], |c, _, out| {
        c.swapdev
            .areas
            .put_u64(out, |a| Some(a.priority as i64 as u64));
        Ok(())
    })
    .help(
        "priority of each swap area",
        "The priority the kernel gives each swap area (higher is used first), from /proc/swaps.",
    ),
]];

/// The swap areas.
pub(crate) const INDOMS: &[IndomBinding] =
    &[IndomBinding::new(descs::SWAPDEV.serial, &[SWAPS], |c| {
        c.swapdev.areas.instances(|a| a.path.clone())
    })
    .help(
        "set of swap areas",
        "One instance per active swap device or file listed in /proc/swaps, named by its path.",
    )
    .labels(&["block", "memory"], "per swap device")];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_areas() {
        let v = parse(
            b"Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
/dev/vda2                               partition\t2097148\t\t1024\t\t-2\n\
/swapfile                               file\t\t1048572\t\t0\t\t10\n\
/swapfile                               file\t\t1048572\t\t0\t\t10\n",
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[0],
            SwapArea {
                path: "/dev/vda2".into(),
                size: 2097148,
                used: 1024,
                priority: -2
            }
        );
        assert_eq!(v[1].priority, 10);
        assert!(parse(b"/dev/x partition big 0 -1\n").is_err());
    }
}
