//! Framing: whole PDUs on a byte stream. A PDU is a 12-byte header, then
//! `len - 12` bytes; there is no other delimiter.

use std::io::{self, Read, Write};

use super::{decode_header, Header, PduError, HEADER_LEN};

/// A failure to read a PDU from a stream.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream failed, or ended inside a PDU.
    #[error("reading a PDU: {0}")]
    Io(#[from] io::Error),
    /// The header is unusable (length out of range); the stream cannot be
    /// resynchronised after this.
    #[error("{0}")]
    Header(#[from] PduError),
}

/// Reads one PDU into `buf` (cleared first; its capacity is reused).
/// Returns `Ok(None)` on a clean end of stream before a header, the header
/// otherwise. Lengths below 12 or above `max` are refused before anything
/// is allocated.
pub fn read_pdu<R: Read + ?Sized>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<Option<Header>, FrameError> {
    buf.clear();
    buf.resize(HEADER_LEN, 0);
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut buf[got..HEADER_LEN]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(FrameError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("end of stream after {got} bytes of a PDU header"),
                )))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let h = decode_header(buf, max)?;
    buf.resize(h.len as usize, 0);
    r.read_exact(&mut buf[HEADER_LEN..]).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("end of stream inside a {}-byte PDU", h.len),
            )
        } else {
            e
        }
    })?;
    Ok(Some(h))
}

/// Writes one whole PDU with a single `write_all`, then flushes, so pmcd
/// never sees half a PDU waiting in a buffer.
pub fn write_pdu<W: Write + ?Sized>(w: &mut W, pdu: &[u8]) -> io::Result<()> {
    w.write_all(pdu)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_to_back_pdus_and_stops_at_eof() {
        let bytes = [
            0, 0, 0, 16, 0, 0, 0x70, 0, 0, 0, 0, 0, 0xff, 0xff, 0xcf, 0x99, // NOTCONN
            0, 0, 0, 16, 0, 0, 0x70, 4, 0, 0, 0, 0, 0x64, 0, 0, 0, // DESC_REQ
        ];
        let mut r = &bytes[..];
        let mut buf = Vec::new();
        let h = read_pdu(&mut r, &mut buf, 1 << 20).unwrap().unwrap();
        assert_eq!((h.len, h.ty), (16, 0x7000));
        assert_eq!(buf.len(), 16);
        let h = read_pdu(&mut r, &mut buf, 1 << 20).unwrap().unwrap();
        assert_eq!(h.ty, 0x7004);
        assert!(read_pdu(&mut r, &mut buf, 1 << 20).unwrap().is_none());
    }

    #[test]
    fn absurd_and_truncated_lengths_are_errors() {
        let mut buf = Vec::new();
        let huge = [0x7f, 0xff, 0xff, 0xff, 0, 0, 0x70, 0, 0, 0, 0, 0];
        assert!(matches!(
            read_pdu(&mut &huge[..], &mut buf, 1 << 20),
            Err(FrameError::Header(PduError::BadLength { .. }))
        ));
        let tiny = [0, 0, 0, 4, 0, 0, 0x70, 0, 0, 0, 0, 0];
        assert!(matches!(
            read_pdu(&mut &tiny[..], &mut buf, 1 << 20),
            Err(FrameError::Header(PduError::BadLength { len: 4, .. }))
        ));
        let negative = [0xff, 0xff, 0xff, 0xf0, 0, 0, 0x70, 0, 0, 0, 0, 0];
        assert!(read_pdu(&mut &negative[..], &mut buf, 1 << 20).is_err());
        let cut = [0, 0, 0, 16, 0, 0, 0x70, 0, 0, 0, 0, 0, 0xff];
        assert!(matches!(
            read_pdu(&mut &cut[..], &mut buf, 1 << 20),
            Err(FrameError::Io(_))
        ));
        let half_header = [0, 0, 0];
        assert!(read_pdu(&mut &half_header[..], &mut buf, 1 << 20).is_err());
    }
}
