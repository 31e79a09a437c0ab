//! The few system calls the event loop needs, each wrapped once: epoll
//! (level-triggered) to learn which sockets are ready, an eventfd to wake
//! the loop from a worker thread, and the open-file limit.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// What a registered descriptor is watched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Interest {
    /// Readable (and hang-ups and errors, which epoll always reports).
    Read,
    /// Writable.
    Write,
}

impl Interest {
    fn events(self) -> u32 {
        match self {
            Interest::Read => libc::EPOLLIN as u32,
            Interest::Write => libc::EPOLLOUT as u32,
        }
    }
}

/// An epoll instance.
#[derive(Debug)]
pub(super) struct Epoll {
    fd: OwnedFd,
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

impl Epoll {
    pub(super) fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 has no memory preconditions; a valid
        // descriptor it returns is owned by nobody else.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just returned open and is not owned elsewhere.
        Ok(Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: interest.events(),
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        check(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) }).map(|_| ())
    }

    /// Starts watching `fd` under `token`.
    pub(super) fn add(&self, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, interest)
    }

    /// Changes what `fd` is watched for.
    pub(super) fn modify(&self, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, interest)
    }

    /// Stops watching `fd` (closing it does too).
    pub(super) fn delete(&self, fd: RawFd) -> io::Result<()> {
        // SAFETY: a null event is allowed for EPOLL_CTL_DEL since 2.6.9.
        check(unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        })
        .map(|_| ())
    }

    /// Waits up to `timeout` for events; fills `events` (its capacity is
    /// the most taken at once) and returns them as (token, readable or
    /// hung up, writable).
    pub(super) fn wait<'a>(
        &self,
        events: &'a mut Vec<libc::epoll_event>,
        timeout: Duration,
    ) -> io::Result<impl Iterator<Item = (u64, bool, bool)> + 'a> {
        events.clear();
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: the buffer has room for `capacity` events; the kernel
        // writes at most that many and we set the length to its count.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                events.as_mut_ptr(),
                events.capacity().min(i32::MAX as usize) as libc::c_int,
                ms,
            )
        };
        let n = match check(n) {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        // SAFETY: the kernel initialised the first `n` entries.
        unsafe { events.set_len(n) };
        let readable = (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLRDHUP) as u32;
        Ok(events.iter().map(move |e| {
            let (token, flags) = (e.u64, e.events);
            (
                token,
                flags & readable != 0,
                flags & libc::EPOLLOUT as u32 != 0,
            )
        }))
    }
}

/// An eventfd that wakes the loop's epoll_wait from another thread.
#[derive(Debug)]
pub(super) struct Waker {
    fd: OwnedFd,
}

impl Waker {
    pub(super) fn new() -> io::Result<Waker> {
        // SAFETY: eventfd has no memory preconditions.
        let fd = check(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: `fd` was just returned open and is not owned elsewhere.
        Ok(Waker {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub(super) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Makes the eventfd readable.
    pub(super) fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64. A full counter (never,
        // at 2^64-2 wakes) would fail with EAGAIN, which is harmless.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Resets it to not readable.
    pub(super) fn drain(&self) {
        let mut n: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64.
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut n as *mut u64).cast(), 8) };
    }
}

/// Raises this process's soft limit on open files to its hard limit, and
/// returns the soft limit in force.
pub(super) fn raise_open_file_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return raised.rlim_cur;
        }
    }
    lim.rlim_cur
}
