//! Decoding: nom parsers over one complete PDU. Every count is checked
//! against the bytes that remain before anything is allocated, so hostile
//! counts cannot make the decoder allocate or panic.

use nom::bytes::complete::take;
use nom::error::{ErrorKind, ParseError};
use nom::number::complete::{be_i32, be_i64, be_u16, be_u32, be_u8};
use nom::IResult;

use super::*;

type In<'a> = &'a [u8];

/// The parsers' error: what is wrong, as a static phrase.
#[derive(Debug)]
struct Bad(&'static str);

impl<'a> ParseError<In<'a>> for Bad {
    fn from_error_kind(_: In<'a>, _: ErrorKind) -> Bad {
        Bad("truncated")
    }
    fn append(_: In<'a>, _: ErrorKind, other: Bad) -> Bad {
        other
    }
}

type R<'a, T> = IResult<In<'a>, T, Bad>;

fn bad<T>(what: &'static str) -> Result<T, nom::Err<Bad>> {
    Err(nom::Err::Failure(Bad(what)))
}

fn i32_(i: In<'_>) -> R<'_, i32> {
    be_i32(i)
}

fn u32_(i: In<'_>) -> R<'_, u32> {
    be_u32(i)
}

/// A count that must be >= 0 and whose `unit`-byte items must fit in the
/// remaining input.
fn count_of(n: i32, unit: usize, rest: In<'_>) -> Result<usize, nom::Err<Bad>> {
    if n < 0 {
        return bad("negative count");
    }
    let n = n as usize;
    if n.saturating_mul(unit) > rest.len() {
        return bad("count larger than the PDU");
    }
    Ok(n)
}

/// A length-prefixed byte string padded to 4 (`padded`) or not.
fn string(i: In<'_>, len: i32, padded: bool) -> R<'_, Vec<u8>> {
    if len < 0 {
        return bad("negative string length");
    }
    let len = len as usize;
    let (i, s) = take(len)(i)?;
    let i = if padded {
        take(pad4(len) - len)(i)?.0
    } else {
        i
    };
    Ok((i, s.to_vec()))
}

fn done<T>(rest: In<'_>, v: T) -> Result<T, nom::Err<Bad>> {
    if rest.is_empty() {
        Ok(v)
    } else {
        bad("trailing bytes after the last field")
    }
}

/// Decodes and checks a header: `len` must lie within 12..=`max`.
pub fn decode_header(bytes: &[u8], max: usize) -> Result<Header, PduError> {
    if bytes.len() < HEADER_LEN {
        return Err(PduError::Short(bytes.len()));
    }
    let word = |k: usize| u32::from_be_bytes([bytes[k], bytes[k + 1], bytes[k + 2], bytes[k + 3]]);
    let h = Header {
        len: word(0),
        ty: word(4),
        from: word(8),
    };
    let signed = h.len as i32 as i64;
    if signed < HEADER_LEN as i64 || signed as u64 > max as u64 {
        return Err(PduError::BadLength { len: signed, max });
    }
    Ok(h)
}

/// Decodes one complete PDU: `bytes` must be exactly the header's `len`.
pub fn decode(bytes: &[u8]) -> Result<(Header, Pdu), PduError> {
    let h = decode_header(bytes, u32::MAX as usize)?;
    if h.len as usize != bytes.len() {
        return Err(PduError::LengthMismatch {
            len: h.len,
            actual: bytes.len(),
        });
    }
    let body = &bytes[HEADER_LEN..];
    let name = type_name(h.ty);
    let parsed = match h.ty {
        types::ERROR => error(body).map(Pdu::Error),
        types::RESULT => result(bytes).map(Pdu::Result),
        types::PROFILE => profile(body).map(Pdu::Profile),
        types::FETCH => fetch(body).map(Pdu::Fetch),
        types::DESC_REQ => pmid_only(body).map(Pdu::DescReq),
        types::DESC => desc(body).map(Pdu::Desc),
        types::INSTANCE_REQ => instance_req(body).map(Pdu::InstanceReq),
        types::INSTANCE => instance(body).map(Pdu::Instance),
        types::TEXT_REQ => ident_req(body).map(Pdu::TextReq),
        types::TEXT => text(body).map(Pdu::Text),
        types::CREDS => creds(body).map(Pdu::Creds),
        types::PMNS_IDS => pmns_ids(body).map(Pdu::PmnsIds),
        types::PMNS_NAMES => pmns_names(body).map(Pdu::PmnsNames),
        types::PMNS_CHILD => pmns_name(body).map(Pdu::PmnsChild),
        types::PMNS_TRAVERSE => pmns_name(body).map(Pdu::PmnsTraverse),
        types::ATTR => attr(body).map(Pdu::Attr),
        types::LABEL_REQ => ident_req(body).map(Pdu::LabelReq),
        types::LABEL => label(bytes).map(Pdu::Label),
        types::HIGHRES_FETCH => fetch(body).map(Pdu::HighResFetch),
        types::HIGHRES_RESULT => highres_result(bytes).map(Pdu::HighResResult),
        types::DESC_IDS => pmns_ids(body).map(Pdu::DescIds),
        types::DESCS => descs(body).map(Pdu::Descs),
        other => return Err(PduError::UnknownType(other)),
    };
    match parsed {
        Ok(pdu) => Ok((h, pdu)),
        Err(nom::Err::Error(Bad(what)) | nom::Err::Failure(Bad(what))) => {
            Err(PduError::Malformed { pdu: name, what })
        }
        Err(nom::Err::Incomplete(_)) => Err(PduError::Malformed {
            pdu: name,
            what: "truncated",
        }),
    }
}

type D<T> = Result<T, nom::Err<Bad>>;

fn error(i: In<'_>) -> D<ErrorPdu> {
    let (i, code) = i32_(i)?;
    if i.is_empty() {
        return Ok(ErrorPdu { code, extra: None });
    }
    let (i, extra) = i32_(i)?;
    done(
        i,
        ErrorPdu {
            code,
            extra: Some(extra),
        },
    )
}

fn creds(i: In<'_>) -> D<CredsPdu> {
    let (i, n) = i32_(i)?;
    if n > 1024 {
        return bad("more than 1024 credentials");
    }
    let n = count_of(n, 4, i)?;
    let (i, creds) = words(i, n)?;
    done(i, CredsPdu { creds })
}

fn words(mut i: In<'_>, n: usize) -> R<'_, Vec<u32>> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let (rest, w) = u32_(i)?;
        v.push(w);
        i = rest;
    }
    Ok((i, v))
}

fn profile(i: In<'_>) -> D<ProfilePdu> {
    let (i, ctx) = i32_(i)?;
    let (i, global) = i32_(i)?;
    let (i, numprof) = i32_(i)?;
    let (mut i, _pad) = i32_(i)?;
    let numprof = count_of(numprof, 16, i)?;
    let mut heads = Vec::with_capacity(numprof);
    for _ in 0..numprof {
        let (r, indom) = u32_(i)?;
        let (r, state) = i32_(r)?;
        let (r, numinst) = i32_(r)?;
        let (r, _pad) = i32_(r)?;
        if numinst < 0 {
            return bad("negative instance count");
        }
        heads.push((indom, state, numinst as usize));
        i = r;
    }
    let mut entries = Vec::with_capacity(numprof);
    for (indom, state, numinst) in heads {
        let numinst = count_of(numinst as i32, 4, i)?;
        let (r, insts) = words(i, numinst)?;
        i = r;
        entries.push(ProfileEntry {
            indom: InDom::from_raw(indom),
            state,
            insts,
        });
    }
    done(
        i,
        ProfilePdu {
            ctx,
            global,
            entries,
        },
    )
}

fn fetch(i: In<'_>) -> D<FetchPdu> {
    let (i, ctx) = i32_(i)?;
    let (i, _unused) = take(8usize)(i)?;
    let (i, n) = i32_(i)?;
    let n = count_of(n, 4, i)?;
    let (i, pmids) = words(i, n)?;
    done(
        i,
        FetchPdu {
            ctx,
            pmids: pmids.into_iter().map(Pmid::from_raw).collect(),
        },
    )
}

fn pmid_only(i: In<'_>) -> D<Pmid> {
    let (i, p) = u32_(i)?;
    done(i, Pmid::from_raw(p))
}

fn desc(i: In<'_>) -> D<DescPdu> {
    let (i, d) = desc_fields(i)?;
    done(i, d)
}

fn desc_fields(i: In<'_>) -> R<'_, DescPdu> {
    let (i, pmid) = u32_(i)?;
    let (i, ty) = i32_(i)?;
    let (i, indom) = u32_(i)?;
    let (i, sem) = i32_(i)?;
    let (i, units) = u32_(i)?;
    Ok((
        i,
        DescPdu {
            pmid: Pmid::from_raw(pmid),
            ty,
            indom: InDom::from_raw(indom),
            sem,
            units,
        },
    ))
}

/// DESCS: a count, then that many 20-byte descriptors.
fn descs(i: In<'_>) -> D<Vec<DescPdu>> {
    let (mut i, n) = i32_(i)?;
    let n = count_of(n, 20, i)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (r, d) = desc_fields(i)?;
        out.push(d);
        i = r;
    }
    done(i, out)
}

fn instance_req(i: In<'_>) -> D<InstanceReq> {
    let (i, indom) = u32_(i)?;
    let (i, _unused) = take(8usize)(i)?;
    let (i, inst) = u32_(i)?;
    let (i, namelen) = i32_(i)?;
    let (i, name) = string(i, namelen, true)?;
    done(
        i,
        InstanceReq {
            indom: InDom::from_raw(indom),
            inst,
            name,
        },
    )
}

fn instance(i: In<'_>) -> D<InstancePdu> {
    let (i, indom) = u32_(i)?;
    let (mut i, n) = i32_(i)?;
    let n = count_of(n, 8, i)?;
    let mut instances = Vec::with_capacity(n);
    for _ in 0..n {
        let (r, inst) = u32_(i)?;
        let (r, namelen) = i32_(r)?;
        let (r, name) = string(r, namelen, true)?;
        instances.push((inst, name));
        i = r;
    }
    done(
        i,
        InstancePdu {
            indom: InDom::from_raw(indom),
            instances,
        },
    )
}

fn ident_req(i: In<'_>) -> D<IdentReq> {
    let (i, ident) = u32_(i)?;
    let (i, kind) = i32_(i)?;
    done(i, IdentReq { ident, kind })
}

fn text(i: In<'_>) -> D<TextPdu> {
    let (i, ident) = u32_(i)?;
    let (i, len) = i32_(i)?;
    let (i, text) = string(i, len, true)?;
    done(i, TextPdu { ident, text })
}

fn pmns_ids(i: In<'_>) -> D<PmnsIdsPdu> {
    let (i, status) = i32_(i)?;
    let (i, n) = i32_(i)?;
    let n = count_of(n, 4, i)?;
    let (i, pmids) = words(i, n)?;
    done(
        i,
        PmnsIdsPdu {
            status,
            pmids: pmids.into_iter().map(Pmid::from_raw).collect(),
        },
    )
}

fn pmns_names(i: In<'_>) -> D<PmnsNamesPdu> {
    let (i, _nstrbytes) = i32_(i)?;
    let (i, numstatus) = i32_(i)?;
    let (mut i, numnames) = i32_(i)?;
    if numstatus != 0 && numstatus != numnames {
        return bad("numstatus is neither 0 nor numnames");
    }
    let with_status = numstatus != 0;
    let n = count_of(numnames, if with_status { 8 } else { 4 }, i)?;
    let mut names = Vec::with_capacity(n);
    let mut status = with_status.then(|| Vec::with_capacity(n));
    for _ in 0..n {
        if let Some(st) = status.as_mut() {
            let (r, s) = i32_(i)?;
            st.push(s);
            i = r;
        }
        let (r, len) = i32_(i)?;
        let (r, name) = string(r, len, true)?;
        names.push(name);
        i = r;
    }
    done(i, PmnsNamesPdu { names, status })
}

fn pmns_name(i: In<'_>) -> D<PmnsNamePdu> {
    let (i, subtype) = i32_(i)?;
    let (i, len) = i32_(i)?;
    let (i, name) = string(i, len, true)?;
    done(i, PmnsNamePdu { subtype, name })
}

fn attr(i: In<'_>) -> D<AttrPdu> {
    let (i, attr) = i32_(i)?;
    Ok(AttrPdu {
        attr,
        value: i.to_vec(),
    })
}

/// A value set before its blocks are resolved: pmid, numval, valfmt,
/// (instance, word) pairs.
type RawVSet = (Pmid, i32, i32, Vec<(u32, u32)>);

/// RESULT: value-block offsets are in words from the start of the PDU, so
/// this parser gets the whole PDU.
fn result(pdu: In<'_>) -> D<ResultPdu> {
    let (i, _) = take(HEADER_LEN)(pdu)?;
    let (i, tv_sec) = i32_(i)?;
    let (i, tv_usec) = i32_(i)?;
    let (i, numpmid) = i32_(i)?;
    let vsets = value_sets(pdu, i, numpmid)?;
    Ok(ResultPdu {
        tv_sec,
        tv_usec,
        vsets,
    })
}

/// HIGHRES_RESULT: `numpmid` first, then the 64-bit stamp, then as RESULT.
fn highres_result(pdu: In<'_>) -> D<HighResResultPdu> {
    let (i, _) = take(HEADER_LEN)(pdu)?;
    let (i, numpmid) = i32_(i)?;
    let (i, sec) = be_i64(i)?;
    let (i, nsec) = be_i64(i)?;
    let vsets = value_sets(pdu, i, numpmid)?;
    Ok(HighResResultPdu { sec, nsec, vsets })
}

/// The value sets starting at `i` and the blocks they point to, which must
/// fill the rest of `pdu` exactly.
fn value_sets<'a>(pdu: In<'a>, mut i: In<'a>, numpmid: i32) -> D<Vec<VSet>> {
    let numpmid = count_of(numpmid, 8, i)?;
    // First the fixed part (value sets), keeping block offsets raw: blocks
    // must lie after the last value set, which is known only at the end.
    let mut raw: Vec<RawVSet> = Vec::with_capacity(numpmid);
    for _ in 0..numpmid {
        let (r, pmid) = u32_(i)?;
        let (r, numval) = i32_(r)?;
        i = r;
        let pmid = Pmid::from_raw(pmid);
        if numval <= 0 {
            raw.push((pmid, numval, PM_VAL_INSITU, Vec::new()));
            continue;
        }
        let (r, valfmt) = i32_(i)?;
        if !matches!(valfmt, PM_VAL_INSITU | PM_VAL_DPTR | PM_VAL_SPTR) {
            return bad("unknown value format");
        }
        let n = count_of(numval, 8, r)?;
        i = r;
        let mut pairs = Vec::with_capacity(n);
        for _ in 0..n {
            let (r, inst) = u32_(i)?;
            let (r, v) = u32_(r)?;
            pairs.push((inst, v));
            i = r;
        }
        raw.push((pmid, numval, valfmt, pairs));
    }
    let fixed_end = pdu.len() - i.len();
    let mut blocks_end = 0usize;
    let mut vsets = Vec::with_capacity(numpmid);
    for (pmid, numval, valfmt, pairs) in raw {
        let values = if numval < 0 {
            VSetValues::Error(numval)
        } else if valfmt == PM_VAL_INSITU {
            VSetValues::Insitu(pairs)
        } else {
            let mut values = Vec::with_capacity(pairs.len());
            for (inst, off) in pairs {
                let (block, end) = value_block(pdu, off, fixed_end)?;
                blocks_end = blocks_end.max(end);
                values.push((inst, block));
            }
            VSetValues::Blocks { valfmt, values }
        };
        vsets.push(VSet { pmid, values });
    }
    if blocks_end == 0 && fixed_end != pdu.len() {
        return bad("trailing bytes after the last field");
    }
    if blocks_end > 0 && pad4(blocks_end) < pdu.len() {
        return bad("trailing bytes after the last value block");
    }
    Ok(vsets)
}

/// The value block at word offset `off`, which must start at or after
/// `min_start` and end inside the PDU; returns it and its (unpadded) end.
fn value_block(pdu: In<'_>, off: u32, min_start: usize) -> D<(ValueBlock, usize)> {
    let start = (off as usize).saturating_mul(4);
    if start < min_start || start.saturating_add(4) > pdu.len() {
        return bad("value block offset outside the value area");
    }
    let (_, head) = u32_(&pdu[start..])?;
    let vtype = (head >> 24) as u8;
    let vlen = (head & 0x00ff_ffff) as usize;
    if vlen < 4 {
        return bad("value block shorter than its header");
    }
    let end = start + vlen;
    if end > pdu.len() {
        return bad("value block runs past the end of the PDU");
    }
    let data = pdu[start + 4..end].to_vec();
    Ok((ValueBlock { vtype, data }, end))
}

/// LABEL: JSON offsets are from the start of the PDU.
fn label(pdu: In<'_>) -> D<LabelPdu> {
    let (i, _) = take(HEADER_LEN)(pdu)?;
    let (i, ident) = u32_(i)?;
    let (i, kind) = i32_(i)?;
    let (i, _pad) = i32_(i)?;
    let (mut i, nsets) = i32_(i)?;
    let nsets = count_of(nsets, 16, i)?;
    let mut sets = Vec::with_capacity(nsets);
    let mut json_end = 0usize;
    for _ in 0..nsets {
        let (r, inst) = u32_(i)?;
        let (r, nlabels) = i32_(r)?;
        let (r, json) = i32_(r)?;
        let (r, jsonlen) = i32_(r)?;
        let nlabels = count_of(nlabels, 8, r)?;
        i = r;
        let mut labels = Vec::with_capacity(nlabels);
        for _ in 0..nlabels {
            let (r, name) = be_u16(i)?;
            let (r, namelen) = be_u8(r)?;
            let (r, flags) = be_u8(r)?;
            let (r, value) = be_u16(r)?;
            let (r, valuelen) = be_u16(r)?;
            labels.push(WireLabel {
                name,
                namelen,
                flags,
                value,
                valuelen,
            });
            i = r;
        }
        if json < 0 || jsonlen < 0 {
            return bad("negative JSON offset or length");
        }
        let (start, len) = (json as usize, jsonlen as usize);
        let Some(text) = pdu.get(start..start.saturating_add(len)) else {
            return bad("label JSON outside the PDU");
        };
        json_end = json_end.max(start + len);
        sets.push(WireLabelSet {
            inst,
            json: text.to_vec(),
            labels,
        });
    }
    let fixed_end = pdu.len() - i.len();
    if json_end.max(fixed_end) != pdu.len() {
        return bad("trailing bytes after the label JSON");
    }
    Ok(LabelPdu { ident, kind, sets })
}
