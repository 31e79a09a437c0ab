//! Encoding: PDUs appended to a caller's buffer, with PCP's padding rules.

use super::*;
use crate::pmda::{InstValues, MetricResult};
use crate::value::Value;

/// Writes PDUs into a reused `Vec<u8>`. Each call appends exactly one PDU
/// at the end of the buffer (clear it first to send one at a time).
///
/// `pad` is the byte written into alignment padding: libpcp writes `~`
/// (the default, so our PDUs match a C PMDA's byte for byte); receivers
/// ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoder {
    /// The padding byte.
    pub pad: u8,
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder { pad: b'~' }
    }
}

/// An open PDU in a buffer: its start, for the final `len` patch and for
/// value-block offsets.
struct Open<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    pad: u8,
}

impl Open<'_> {
    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes_padded(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
        let n = pad4(b.len()) - b.len();
        self.out.extend(std::iter::repeat_n(self.pad, n));
    }
    /// A length word then the bytes, padded.
    fn string(&mut self, b: &[u8]) {
        self.i32(b.len() as i32);
        self.bytes_padded(b);
    }
    /// Current offset from the PDU start.
    fn offset(&self) -> usize {
        self.out.len() - self.start
    }
    fn finish(self) {
        let len = (self.out.len() - self.start) as u32;
        self.out[self.start..self.start + 4].copy_from_slice(&len.to_be_bytes());
    }
}

impl Encoder {
    /// An encoder padding with zero bytes.
    pub const ZERO_PAD: Encoder = Encoder { pad: 0 };

    fn open<'a>(&self, out: &'a mut Vec<u8>, ty: u32, from: u32) -> Open<'a> {
        let start = out.len();
        let mut o = Open {
            out,
            start,
            pad: self.pad,
        };
        o.u32(0);
        o.u32(ty);
        o.u32(from);
        o
    }

    /// Appends `pdu` with header `from` to `out`.
    pub fn encode(&self, pdu: &Pdu, from: u32, out: &mut Vec<u8>) {
        let mut o = self.open(out, pdu.type_code(), from);
        match pdu {
            Pdu::Error(e) => {
                o.i32(e.code);
                if let Some(x) = e.extra {
                    o.i32(x);
                }
            }
            Pdu::Result(r) => {
                o.i32(r.tv_sec);
                o.i32(r.tv_usec);
                o.i32(r.vsets.len() as i32);
                write_vsets(&mut o, &r.vsets);
            }
            Pdu::Profile(p) => {
                o.i32(p.ctx);
                o.i32(p.global);
                o.i32(p.entries.len() as i32);
                o.i32(0);
                for e in &p.entries {
                    o.u32(e.indom.raw());
                    o.i32(e.state);
                    o.i32(e.insts.len() as i32);
                    o.i32(0);
                }
                for e in &p.entries {
                    for &i in &e.insts {
                        o.u32(i);
                    }
                }
            }
            Pdu::Fetch(f) | Pdu::HighResFetch(f) => {
                o.i32(f.ctx);
                o.u32(0);
                o.u32(0);
                o.i32(f.pmids.len() as i32);
                for p in &f.pmids {
                    o.u32(p.raw());
                }
            }
            Pdu::DescReq(p) => o.u32(p.raw()),
            Pdu::Desc(d) => write_desc(&mut o, d),
            Pdu::InstanceReq(r) => {
                o.u32(r.indom.raw());
                o.u32(0);
                o.u32(0);
                o.u32(r.inst);
                o.string(&r.name);
            }
            Pdu::Instance(r) => {
                o.u32(r.indom.raw());
                o.i32(r.instances.len() as i32);
                for (id, name) in &r.instances {
                    o.u32(*id);
                    o.string(name);
                }
            }
            Pdu::TextReq(r) | Pdu::LabelReq(r) => {
                o.u32(r.ident);
                o.i32(r.kind);
            }
            Pdu::Text(t) => {
                o.u32(t.ident);
                o.string(&t.text);
            }
            Pdu::Creds(c) => {
                o.i32(c.creds.len() as i32);
                for &w in &c.creds {
                    o.u32(w);
                }
            }
            Pdu::PmnsIds(p) => {
                o.i32(p.status);
                o.i32(p.pmids.len() as i32);
                for id in &p.pmids {
                    o.u32(id.raw());
                }
            }
            Pdu::PmnsNames(n) => {
                let names = n.names.iter().map(|v| v.as_slice());
                write_names(&mut o, names, n.status.as_deref());
            }
            Pdu::PmnsChild(c) | Pdu::PmnsTraverse(c) => {
                o.i32(c.subtype);
                o.string(&c.name);
            }
            Pdu::Attr(a) => {
                o.i32(a.attr);
                o.out.extend_from_slice(&a.value);
            }
            Pdu::Label(l) => write_label(&mut o, l),
            Pdu::HighResResult(r) => {
                o.i32(r.vsets.len() as i32);
                o.out.extend_from_slice(&r.sec.to_be_bytes());
                o.out.extend_from_slice(&r.nsec.to_be_bytes());
                write_vsets(&mut o, &r.vsets);
            }
            Pdu::DescIds(p) => {
                o.i32(p.status);
                o.i32(p.pmids.len() as i32);
                for id in &p.pmids {
                    o.u32(id.raw());
                }
            }
            Pdu::Descs(d) => {
                o.i32(d.len() as i32);
                for d in d {
                    write_desc(&mut o, d);
                }
            }
        }
        o.finish();
    }

    /// Appends a PDU_ERROR with `code` (the common reply), header `from` 0.
    pub fn error(&self, code: i32, out: &mut Vec<u8>) {
        let mut o = self.open(out, types::ERROR, 0);
        o.i32(code);
        o.finish();
    }

    /// Appends a PDU_PMNS_NAMES built from string slices: the reply to
    /// PMNS_IDS, PMNS_CHILD and PMNS_TRAVERSE, without copying names.
    pub fn names<'n>(
        &self,
        names: impl Iterator<Item = &'n str> + Clone,
        status: Option<&[i32]>,
        out: &mut Vec<u8>,
    ) {
        let mut o = self.open(out, types::PMNS_NAMES, 0);
        write_names(&mut o, names.map(str::as_bytes), status);
        o.finish();
    }

    /// Appends the PDU_PMNS_NAMES answering PDU_PMNS_CHILD: the children's
    /// names, with a status each (1 for a non-leaf) when `with_status`
    /// (subtype 1).
    pub fn children(&self, kids: &[crate::namespace::Child], with_status: bool, out: &mut Vec<u8>) {
        let status: Option<Vec<i32>> =
            with_status.then(|| kids.iter().map(|k| i32::from(!k.leaf)).collect());
        self.names(kids.iter().map(|k| k.name.as_str()), status.as_deref(), out);
    }

    /// Appends the PDU_RESULT answering a fetch straight from the agent's
    /// answers, with no intermediate copies: 32-bit values in place, every
    /// other value in its own block after the value sets. `flags` goes in
    /// `tv_sec` ([`PMCD_NAMES_CHANGE`], [`PMCD_LABEL_CHANGE`]).
    ///
    /// A value set whose values are all `I32`/`U32` is sent PM_VAL_INSITU;
    /// any other type makes the whole set PM_VAL_DPTR (a 32-bit value in a
    /// mixed set gets a block of its own type).
    pub fn fetch_result(&self, flags: i32, vsets: &[(Pmid, MetricResult)], out: &mut Vec<u8>) {
        self.client_result(flags, 0, vsets, out);
    }

    /// Appends the PDU_RESULT a pmcd sends a client for a FETCH: the
    /// answers as [`Encoder::fetch_result`] lays them out, stamped with
    /// seconds and microseconds.
    pub fn client_result(
        &self,
        sec: i32,
        usec: i32,
        vsets: &[(Pmid, MetricResult)],
        out: &mut Vec<u8>,
    ) {
        let mut o = self.open(out, types::RESULT, 0);
        o.i32(sec);
        o.i32(usec);
        o.i32(vsets.len() as i32);
        write_answers(&mut o, vsets);
        o.finish();
    }

    /// Appends the PDU_HIGHRES_RESULT a pmcd sends a client for a
    /// HIGHRES_FETCH: `numpmid`, a seconds and nanoseconds stamp, then the
    /// answers laid out as [`Encoder::fetch_result`] does.
    pub fn highres_result(
        &self,
        sec: i64,
        nsec: i64,
        vsets: &[(Pmid, MetricResult)],
        out: &mut Vec<u8>,
    ) {
        let mut o = self.open(out, types::HIGHRES_RESULT, 0);
        o.i32(vsets.len() as i32);
        o.out.extend_from_slice(&sec.to_be_bytes());
        o.out.extend_from_slice(&nsec.to_be_bytes());
        write_answers(&mut o, vsets);
        o.finish();
    }
}

/// Whether a metric's values all travel in place (32-bit integers).
fn all_insitu(v: &InstValues) -> bool {
    v.iter().all(|(_, x)| insitu_from_value(x).is_some())
}

/// Value sets straight from agents' answers, then their blocks: 32-bit
/// values in place, every other value in its own block after the sets. A
/// set whose values are all `I32`/`U32` is PM_VAL_INSITU; any other type
/// makes the whole set PM_VAL_DPTR (a 32-bit value in a mixed set gets a
/// block of its own type).
fn write_answers(o: &mut Open<'_>, vsets: &[(Pmid, MetricResult)]) {
    // Pass 1: the size of the value-set area, so block offsets are known.
    let mut area = o.offset();
    for (_, r) in vsets {
        area += match r {
            Ok(v) if !v.is_empty() => 12 + 8 * v.len(),
            _ => 8,
        };
    }
    // Pass 2: value sets, with running block offsets.
    let mut next_block = area;
    for (pmid, r) in vsets {
        o.u32(pmid.raw());
        match r {
            Err(e) => o.i32(e.code()),
            Ok(v) if v.is_empty() => o.i32(0),
            Ok(v) => {
                o.i32(v.len() as i32);
                if all_insitu(v) {
                    o.i32(PM_VAL_INSITU);
                    for (inst, x) in v {
                        o.u32(*inst);
                        o.u32(insitu_from_value(x).unwrap_or(0));
                    }
                } else {
                    o.i32(PM_VAL_DPTR);
                    for (inst, x) in v {
                        o.u32(*inst);
                        o.u32((next_block / 4) as u32);
                        next_block += pad4(4 + payload_len(x));
                    }
                }
            }
        }
    }
    // Pass 3: the blocks, in the same order.
    for (_, r) in vsets {
        if let Ok(v) = r {
            if all_insitu(v) {
                continue;
            }
            for (_, x) in v {
                write_value_block(o, x);
            }
        }
    }
}

fn write_desc(o: &mut Open<'_>, d: &DescPdu) {
    o.u32(d.pmid.raw());
    o.i32(d.ty);
    o.u32(d.indom.raw());
    o.i32(d.sem);
    o.u32(d.units);
}

fn payload_len(v: &Value) -> usize {
    match v {
        Value::I32(_) | Value::U32(_) | Value::Float(_) => 4,
        Value::I64(_) | Value::U64(_) | Value::Double(_) => 8,
        Value::String(s) => s.len() + 1,
        Value::Aggregate(b) => b.len(),
    }
}

fn write_value_block(o: &mut Open<'_>, v: &Value) {
    let len = payload_len(v);
    o.u32((v.ty().code() as u32) << 24 | ((4 + len) as u32 & 0x00ff_ffff));
    match v {
        Value::I32(x) => o.i32(*x),
        Value::U32(x) => o.u32(*x),
        Value::I64(x) => o.out.extend_from_slice(&x.to_be_bytes()),
        Value::U64(x) => o.out.extend_from_slice(&x.to_be_bytes()),
        Value::Float(x) => o.out.extend_from_slice(&x.to_bits().to_be_bytes()),
        Value::Double(x) => o.out.extend_from_slice(&x.to_bits().to_be_bytes()),
        Value::String(s) => {
            o.out.extend_from_slice(s.as_bytes());
            o.out.push(0);
            let n = pad4(len) - len;
            o.out.extend(std::iter::repeat_n(o.pad, n));
        }
        Value::Aggregate(b) => o.bytes_padded(b),
    }
}

fn write_vsets(o: &mut Open<'_>, vsets: &[VSet]) {
    let mut area = o.offset();
    for v in vsets {
        area += match &v.values {
            VSetValues::Insitu(x) if !x.is_empty() => 12 + 8 * x.len(),
            VSetValues::Blocks { values, .. } if !values.is_empty() => 12 + 8 * values.len(),
            _ => 8,
        };
    }
    let mut next_block = area;
    for v in vsets {
        o.u32(v.pmid.raw());
        match &v.values {
            VSetValues::Error(c) => o.i32(*c),
            VSetValues::Insitu(x) if x.is_empty() => o.i32(0),
            VSetValues::Blocks { values, .. } if values.is_empty() => o.i32(0),
            VSetValues::Insitu(x) => {
                o.i32(x.len() as i32);
                o.i32(PM_VAL_INSITU);
                for &(inst, val) in x {
                    o.u32(inst);
                    o.u32(val);
                }
            }
            VSetValues::Blocks { valfmt, values } => {
                o.i32(values.len() as i32);
                o.i32(*valfmt);
                for (inst, b) in values {
                    o.u32(*inst);
                    o.u32((next_block / 4) as u32);
                    next_block += pad4(4 + b.data.len());
                }
            }
        }
    }
    for v in vsets {
        if let VSetValues::Blocks { values, .. } = &v.values {
            for (_, b) in values {
                o.u32((b.vtype as u32) << 24 | ((4 + b.data.len()) as u32 & 0x00ff_ffff));
                o.bytes_padded(&b.data);
            }
        }
    }
}

fn write_names<'n>(
    o: &mut Open<'_>,
    names: impl Iterator<Item = &'n [u8]> + Clone,
    status: Option<&[i32]>,
) {
    let (count, strbytes) = names
        .clone()
        .fold((0usize, 0usize), |(c, s), n| (c + 1, s + n.len() + 1));
    o.i32(strbytes as i32);
    o.i32(if status.is_some() { count as i32 } else { 0 });
    o.i32(count as i32);
    for (k, n) in names.enumerate() {
        if let Some(st) = status {
            o.i32(st.get(k).copied().unwrap_or(0));
        }
        o.string(n);
    }
}

fn write_label(o: &mut Open<'_>, l: &LabelPdu) {
    o.u32(l.ident);
    o.i32(l.kind);
    o.i32(0);
    o.i32(l.sets.len() as i32);
    let mut json_at = o.offset()
        + l.sets
            .iter()
            .map(|s| 16 + 8 * s.labels.len())
            .sum::<usize>();
    for s in &l.sets {
        o.u32(s.inst);
        o.i32(s.labels.len() as i32);
        o.i32(json_at as i32);
        o.i32(s.json.len() as i32);
        json_at += s.json.len();
        for lab in &s.labels {
            o.out.extend_from_slice(&lab.name.to_be_bytes());
            o.out.push(lab.namelen);
            o.out.push(lab.flags);
            o.out.extend_from_slice(&lab.value.to_be_bytes());
            o.out.extend_from_slice(&lab.valuelen.to_be_bytes());
        }
    }
    for s in &l.sets {
        o.out.extend_from_slice(&s.json);
    }
}
