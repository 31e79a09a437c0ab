//! The registry of collectors: one line per collector, in the order a
//! fetch refreshes them (a collector after those it reads from, named in
//! parentheses). Each collector is a module of the same name holding its
//! state type, its `refresh`, its `BINDINGS` and its `INDOMS`; its name
//! is the one `--linux-disable` takes.

use crate::binding::{Binding, IndomBinding, Need};
use crate::system::System;

macro_rules! collectors {
    ($(
        $(#[$doc:meta])*
        $variant:ident => $field:ident $( ( $($dep:ident),* ) )? ;
    )*) => {
        /// A collector.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub(crate) enum Id {
            $( $(#[$doc])* $variant, )*
        }

        impl Id {
            /// Every collector, in refresh order.
            pub(crate) const ALL: &'static [Id] = &[$(Id::$variant),*];
            /// Number of collectors.
            pub(crate) const COUNT: usize = Id::ALL.len();

            /// The collector's name (its module's, and `--linux-disable`'s).
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $( Id::$variant => stringify!($field), )*
                }
            }

            /// The collector's metrics, in tables.
            pub(crate) fn bindings(self) -> &'static [&'static [Binding]] {
                match self {
                    $( Id::$variant => crate::$field::BINDINGS, )*
                }
            }

            /// The instance domains the collector lists.
            pub(crate) fn indoms(self) -> &'static [IndomBinding] {
                match self {
                    $( Id::$variant => crate::$field::INDOMS, )*
                }
            }
        }

        /// Every collector's state.
        #[derive(Debug)]
        pub(crate) struct Collectors {
            $( $(#[$doc])* pub(crate) $field: crate::$field::$variant, )*
        }

        impl Collectors {
            /// Every collector, nothing read yet.
            pub(crate) fn new(sys: &System) -> Collectors {
                Collectors {
                    $( $field: crate::$field::$variant::new(sys), )*
                }
            }

            /// Reads the sources `plan` asks for, each collector in turn.
            pub(crate) fn refresh(&mut self, sys: &mut System, plan: &Plan) {
                $(
                    let want = sys.unread(Id::$variant, plan.0[Id::$variant as usize]);
                    if want != 0 {
                        self.$field.refresh(sys, want $( $(, &self.$dep)* )?);
                    }
                )*
            }
        }
    };
}

collectors! {
    /// CPU time, CPU hardware figures and the node map (/proc/stat,
    /// /proc/cpuinfo, /sys/devices/system/{cpu,node}).
    Cpu => cpu;
    /// Per-node memory and NUMA node figures.
    Numa => numa(cpu);
    /// Load, uptime, logins, uname and kernel tunables.
    Kernel => kernel;
    /// Hard and soft interrupts per line and CPU.
    Interrupts => interrupts;
    /// Pressure stall information.
    Pressure => pressure;
    /// /proc/meminfo, KSM and the memory hardware figures.
    Memory => memory;
    /// /proc/vmstat.
    Vmstat => vmstat;
    /// Memory zones and the buddy allocator.
    Zones => zones;
    /// Slab caches (root only).
    Slab => slab;
    /// Swap areas.
    Swapdev => swapdev;
    /// Block devices: disks, partitions, device-mapper and md devices.
    Disk => disk;
    /// Disks by World Wide Identifier (multipath).
    Multipath => multipath(disk);
    /// zram compressed RAM disks.
    Zram => zram(disk);
    /// SCSI devices, tape drives and Fibre Channel hosts.
    Scsi => scsi;
    /// Network interfaces and their addresses.
    Netdev => netdev;
    /// IP, ICMP, TCP, UDP and MPTCP protocol counters.
    Netproto => netproto;
    /// Sockets by protocol and state.
    Sockets => sockets;
    /// Per-CPU network receive statistics.
    Softnet => softnet;
    /// Mounted filesystems and tmpfs mounts.
    Filesys => filesys;
    /// File handles, inodes, directory cache, AIO and file locks.
    Vfs => vfs;
    /// System V IPC.
    Ipc => ipc;
    /// NFS and RPC.
    Nfs => nfs;
    /// Serial lines (root only).
    Tty => tty;
}

/// The sources one fetch needs, per collector.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan([u32; Id::COUNT]);

impl Plan {
    /// Adds `needs`.
    pub(crate) fn add(&mut self, needs: &[Need]) {
        for n in needs {
            self.0[n.collector as usize] |= n.bit;
        }
    }
}
