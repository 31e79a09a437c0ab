//! The daemon's loop over a pipe: the credentials handshake with pmcd,
//! then one PDU in, one answer out, until pmcd closes the pipe.

use std::io::{self, Read, Write};

use super::{DaemonError, DaemonOptions, Session};
use crate::error::PmError;
use crate::pdu::frame::{read_pdu, write_pdu};
use crate::pdu::{self, decode, types, CredsPdu, Encoder, Pdu};
use crate::pmda::Pmda;

/// Sends our PDU_CREDS and reads pmcd's. Returns false if pmcd closed the
/// pipe instead of answering. A first PDU other than CREDS is handed back
/// for normal processing.
fn handshake<R: Read, W: Write>(
    input: &mut R,
    output: &mut W,
    opts: &DaemonOptions,
    buf: &mut Vec<u8>,
    tag: &str,
) -> Result<Option<bool>, DaemonError> {
    send_creds(output, opts)?;
    read_creds_reply(input, opts, buf, tag)
}

/// The agent's half of the handshake: CREDS with our PDU version and the
/// flags we want.
fn send_creds<W: Write>(output: &mut W, opts: &DaemonOptions) -> Result<(), DaemonError> {
    let flags = if opts.credentials {
        pdu::PDU_FLAG_AUTH | pdu::PDU_FLAG_CONTAINER
    } else {
        0
    };
    let mut out = Vec::with_capacity(20);
    Encoder::default().encode(
        &Pdu::Creds(CredsPdu::version(flags)),
        std::process::id(),
        &mut out,
    );
    write_pdu(output, &out).map_err(DaemonError::Write)
}

/// pmcd's half: its CREDS (`Some(false)`), another request already
/// (`Some(true)`: it is in `buf`, to be served), or the pipe closed.
fn read_creds_reply<R: Read>(
    input: &mut R,
    opts: &DaemonOptions,
    buf: &mut Vec<u8>,
    tag: &str,
) -> Result<Option<bool>, DaemonError> {
    match read_pdu(input, buf, opts.max_pdu)? {
        None => Ok(None),
        Some(h) if h.ty == types::CREDS => {
            if let Ok((_, Pdu::Creds(c))) = decode(buf) {
                if let Some((v, _)) = c.version_flags() {
                    if v != pdu::PDU_VERSION {
                        eprintln!(
                            "{tag}: pmcd speaks PDU version {v}, we speak {}",
                            pdu::PDU_VERSION
                        );
                    }
                }
            }
            Ok(Some(false))
        }
        Some(h) => {
            eprintln!(
                "{tag}: expected CREDS from pmcd, got {}; carrying on",
                pdu::type_name(h.ty)
            );
            Ok(Some(true))
        }
    }
}

fn send_ready<W: Write>(output: &mut W) -> Result<(), DaemonError> {
    let mut out = Vec::with_capacity(16);
    Encoder::default().error(PmError::PMDAREADY.code(), &mut out);
    write_pdu(output, &out).map_err(DaemonError::Write)
}

fn serve<R: Read, W: Write>(
    agent: &mut dyn Pmda,
    mut input: R,
    mut output: W,
    opts: &DaemonOptions,
    mut buf: Vec<u8>,
    mut pending: bool,
) -> Result<(), DaemonError> {
    let mut session = Session::new(agent, opts);
    loop {
        if !pending && read_pdu(&mut input, &mut buf, opts.max_pdu)?.is_none() {
            return Ok(());
        }
        pending = false;
        if let Some(reply) = session.handle(&buf) {
            write_pdu(&mut output, reply).map_err(DaemonError::Write)?;
            session.sent();
        }
    }
}

/// Serves `agent` to pmcd over `input` (pmcd's requests) and `output`
/// (our replies) until pmcd closes `input`, which is a normal `Ok` exit.
pub fn run_daemon<R: Read, W: Write>(
    agent: &mut dyn Pmda,
    mut input: R,
    mut output: W,
    opts: &DaemonOptions,
) -> Result<(), DaemonError> {
    let tag = format!("pmda {}[{}]", agent.name(), std::process::id());
    let mut buf = Vec::with_capacity(4096);
    let Some(pending) = handshake(&mut input, &mut output, opts, &mut buf, &tag)? else {
        return Ok(());
    };
    if opts.notready {
        send_ready(&mut output)?;
    }
    serve(agent, input, output, opts, buf, pending)
}

/// Like [`run_daemon`] for an agent whose start-up may be slow: `factory`
/// builds the agent on a thread of its own while the handshake waits for
/// it, at most `opts.build_before_handshake`. Built by then, the agent
/// sends READY (with `opts.notready`, which the pmcd.conf line must match)
/// right behind its CREDS, so pmcd finds it ready as soon as it looks.
/// Otherwise the handshake goes ahead (pmcd allows 3 s for it), pmcd
/// answers clients PM_ERR_AGAIN for the agent meanwhile, and READY follows
/// once it is built.
pub fn run_daemon_with<R, W, F>(
    factory: F,
    mut input: R,
    mut output: W,
    opts: &DaemonOptions,
) -> Result<(), DaemonError>
where
    R: Read,
    W: Write,
    F: FnOnce() -> Result<Box<dyn Pmda>, String> + Send,
{
    let tag = format!("pmda[{}]", std::process::id());
    let mut buf = Vec::with_capacity(4096);
    std::thread::scope(|scope| {
        let (built_tx, built) = std::sync::mpsc::channel();
        let builder = std::thread::Builder::new()
            .name("agent-start".into())
            // As much stack as the main thread it stands in for.
            .stack_size(8 << 20)
            .spawn_scoped(scope, move || {
                let agent = factory();
                let _ = built_tx.send(());
                agent
            })
            .map_err(|e| DaemonError::Agent(format!("cannot start the agent's thread: {e}")))?;
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<Box<dyn Pmda>, String>>| {
            h.join()
                .map_err(|_| DaemonError::Agent("the agent panicked while starting".into()))
        };
        // Built in time: READY goes right behind CREDS, so it is in the
        // pipe before pmcd, done with the handshake, serves anyone again.
        let (early, late) = match built.recv_timeout(opts.build_before_handshake) {
            Ok(()) => (Some(join(builder)?), None),
            Err(_) => (None, Some(builder)),
        };
        send_creds(&mut output, opts)?;
        let ready_sent = opts.notready && matches!(early, Some(Ok(_)));
        if ready_sent {
            send_ready(&mut output)?;
        }
        let pending = read_creds_reply(&mut input, opts, &mut buf, &tag)?;
        let agent = match (early, late) {
            (Some(a), _) => a,
            (None, Some(h)) => join(h)?,
            (None, None) => Err("the agent was never started".to_string()),
        };
        let Some(pending) = pending else {
            return Ok(());
        };
        let mut agent = agent.map_err(DaemonError::Agent)?;
        if opts.notready && !ready_sent {
            send_ready(&mut output)?;
        }
        serve(agent.as_mut(), input, output, opts, buf, pending)
    })
}

/// Takes this process's stdout for PDUs: returns a handle on a private
/// duplicate of fd 1, and points fd 1 at stderr, so a stray `println!`
/// anywhere in the agent lands in pmcd's log instead of corrupting the
/// PDU stream.
pub fn claim_stdout() -> io::Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    // SAFETY: dup/dup2 on the standard descriptors; the new descriptor is
    // owned by the returned File alone.
    unsafe {
        let fd = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::dup2(2, 1) < 0 {
            let e = io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        Ok(std::fs::File::from_raw_fd(fd))
    }
}

/// Serves `agent` on this process's stdin and stdout, as a pmcd pipe agent.
pub fn run_stdio(agent: &mut dyn Pmda, opts: &DaemonOptions) -> Result<(), DaemonError> {
    let out = claim_stdout().map_err(DaemonError::Write)?;
    run_daemon(agent, io::stdin().lock(), out, opts)
}

/// Serves the agent `factory` builds on stdin and stdout ([`run_daemon_with`]).
pub fn run_stdio_with<F>(factory: F, opts: &DaemonOptions) -> Result<(), DaemonError>
where
    F: FnOnce() -> Result<Box<dyn Pmda>, String> + Send,
{
    let out = claim_stdout().map_err(DaemonError::Write)?;
    run_daemon_with(factory, io::stdin().lock(), out, opts)
}
