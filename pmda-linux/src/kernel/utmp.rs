//! The utmp file (`/var/run/utmp`): login sessions, counted as
//! pmdalinux's getutent(3) loop counts them.

/// Size of one utmp record (glibc's `struct utmp` on 64-bit Linux).
pub const UTMP_RECORD: usize = 384;
/// Offset of `ut_user` in a utmp record.
const UTMP_USER: usize = 44;
/// `ut_type` of a user's login session.
const USER_PROCESS: i16 = 7;

/// Counts login sessions in a utmp file as pmdalinux does: users and root
/// users among the USER_PROCESS records with a user name, and every record
/// except USER_PROCESS records without one. A trailing partial record is
/// ignored, as getutent(3) ignores it.
pub fn count_logins(buf: &[u8]) -> [u64; 3] {
    let mut n = [0u64; 3];
    for rec in buf.chunks_exact(UTMP_RECORD) {
        let ty = i16::from_ne_bytes([rec[0], rec[1]]);
        if ty == USER_PROCESS {
            let user = &rec[UTMP_USER..UTMP_USER + 32];
            let len = user.iter().position(|&b| b == 0).unwrap_or(32);
            if len == 0 {
                continue;
            }
            if &user[..len] == b"root" {
                n[1] += 1;
            }
            n[0] += 1;
        }
        n[2] += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ty: i16, user: &str) -> Vec<u8> {
        let mut r = vec![0u8; UTMP_RECORD];
        r[..2].copy_from_slice(&ty.to_ne_bytes());
        r[UTMP_USER..UTMP_USER + user.len()].copy_from_slice(user.as_bytes());
        r
    }

    #[test]
    fn sessions_users_and_roots() {
        let mut f = record(2, "reboot");
        f.extend(record(USER_PROCESS, "root"));
        f.extend(record(USER_PROCESS, "alice"));
        f.extend(record(USER_PROCESS, ""));
        f.extend(record(8, ""));
        f.extend([0u8; 100]);
        assert_eq!(count_logins(&f), [2, 1, 4]);
        assert_eq!(count_logins(b""), [0, 0, 0]);
    }
}
