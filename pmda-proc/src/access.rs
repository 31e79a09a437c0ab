//! Reading `/proc` as the client: pmdaproc takes on the user and group of
//! the client pmcd names before it reads per-process files, so the kernel
//! decides what each user may see (another user's `io`, `environ`, `fd`
//! and `smaps` stay hidden). Here the reading thread alone switches
//! (raw `setresuid`/`setresgid` system calls, which change only the
//! calling thread's credentials, unlike the C library's wrappers) and
//! switches back when the guard goes, even on unwinding.

use pcp_core::ClientContext;

/// Who may read what, for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials and no all-access option: per-process metrics are
    /// refused with `PM_ERR_PERMISSION`, as pmdaproc refuses them.
    Denied,
    /// Read as the agent itself (the client is the agent's own user, or
    /// the agent cannot switch users).
    AsAgent,
    /// Read as this user and group.
    AsUser(u32, u32),
}

impl Access {
    /// The access a request from `client` gets; `all_access` is
    /// pmdaproc's `-A`.
    pub fn of(client: &ClientContext, all_access: bool) -> Access {
        // SAFETY: geteuid/getegid have no preconditions.
        let (me, my_gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        match (client.user_id, all_access) {
            (_, true) => Access::AsAgent,
            (None, false) => Access::Denied,
            (Some(uid), false)
                if me != 0 || (uid == me && client.group_id.is_none_or(|g| g == my_gid)) =>
            {
                Access::AsAgent
            }
            (Some(uid), false) => Access::AsUser(uid, client.group_id.unwrap_or(uid)),
        }
    }
}

/// While alive, this thread reads files as another user.
#[derive(Debug)]
pub struct AsUser {
    /// The thread's own (real, effective) uid and gid to return to.
    back: Option<(u32, u32, u32, u32)>,
}

impl AsUser {
    /// Switches this thread to `access`'s user (nothing for the others).
    /// `None` when the switch failed: the caller must refuse the request
    /// rather than read as the agent.
    pub fn enter(access: Access) -> Option<AsUser> {
        let Access::AsUser(uid, gid) = access else {
            return Some(AsUser { back: None });
        };
        let (mut ru, mut eu, mut su, mut rg, mut eg, mut sg) = (0, 0, 0, 0, 0, 0);
        // SAFETY: getresuid/getresgid write three ids each into our locals.
        unsafe {
            libc::getresuid(&mut ru, &mut eu, &mut su);
            libc::getresgid(&mut rg, &mut eg, &mut sg);
        }
        let guard = AsUser {
            back: Some((ru, eu, rg, eg)),
        };
        // SAFETY: raw credential system calls change the calling thread
        // only; the saved ids stay as they were, so the guard can return.
        let ok = unsafe {
            libc::syscall(libc::SYS_setresgid, gid, gid, u32::MAX) == 0
                && libc::syscall(libc::SYS_setresuid, uid, uid, u32::MAX) == 0
        };
        if ok {
            Some(guard)
        } else {
            drop(guard);
            None
        }
    }
}

impl Drop for AsUser {
    fn drop(&mut self) {
        if let Some((ru, eu, rg, eg)) = self.back {
            // SAFETY: back to the thread's own ids (permitted: the saved
            // uid is still the agent's), uid first so the gid may change.
            unsafe {
                libc::syscall(libc::SYS_setresuid, ru, eu, u32::MAX);
                libc::syscall(libc::SYS_setresgid, rg, eg, u32::MAX);
            }
        }
    }
}
