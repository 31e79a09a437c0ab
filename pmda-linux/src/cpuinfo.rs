//! `/proc/cpuinfo` read as pmdalinux 6.0.3 reads it, on every architecture
//! whose format it knows (x86, ia64, alpha, powerpc, s390, arm64): the
//! file's bytes are kept and each CPU's strings are byte ranges into them,
//! so a fetch allocates only for the string values it answers.
//!
//! The rules (`refresh_proc_cpuinfo`):
//! - a line without `:` is skipped; a line starting `processor` (that
//!   case) begins the next CPU; a field's value starts two bytes after the
//!   first `:` (past `": "`) and runs to the end of the line;
//! - keys match by case-insensitive prefix, first match in this order, and
//!   the first value seen for a figure wins (the clock: the last):
//!   `model name`/`hardware` -> model name; `model`, `cpu model`,
//!   `cpu variant` -> model; `vendor`, `cpu implementer` -> vendor;
//!   `step`, `revision`, `cpu revision` -> stepping; `flags`, `features`
//!   (trimmed) -> flags; `cache size` -> cache (C's `atoi`);
//!   `cache_align` -> cache alignment; `bogo` -> BogoMIPS (C's `atof`);
//!   `cpu MHz` -> clock; else `cycle frequency` (Hz, alpha) -> clock;
//! - lines before any `processor` line, and every line once two
//!   `processor` lines came in a row (arm64 and s390 print one block of
//!   shared fields beside a list of processors), describe every CPU.
//!
//! One deliberate difference: pmdalinux numbers CPUs by counting
//! `processor` lines, which shifts every CPU after an offline one onto
//! its neighbour's figures; here a `processor` line's own number
//! (`processor : 3`, or s390's `processor 3: ...`) is used when it has
//! one, which is the same whenever no CPU is offline.

use std::ops::Range;

/// The most CPUs described separately (a processor number past this
/// is ignored), bounding memory on a hostile file.
pub const MAX_CPUS: usize = 1 << 16;

/// What one CPU's lines said, as pmdalinux keeps it (`cpuinfo_t`).
#[derive(Debug, Clone, Default, PartialEq)]
struct Desc {
    vendor: Option<Range<usize>>,
    model: Option<Range<usize>>,
    model_name: Option<Range<usize>>,
    stepping: Option<Range<usize>>,
    flags: Option<Range<usize>>,
    sapic: bool,
    cache: u32,
    cache_align: u32,
    bogomips: f32,
    clock: f32,
}

/// A figure of `hinv.cpu.*` that comes from /proc/cpuinfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuField {
    /// `hinv.cpu.clock`: MHz.
    Clock,
    /// `hinv.cpu.vendor`.
    Vendor,
    /// `hinv.cpu.model` (else the model name).
    Model,
    /// `hinv.cpu.stepping`.
    Stepping,
    /// `hinv.cpu.cache`: KB.
    Cache,
    /// `hinv.cpu.bogomips`.
    Bogomips,
    /// `hinv.cpu.model_name` (else the model).
    ModelName,
    /// `hinv.cpu.flags`.
    Flags,
    /// `hinv.cpu.cache_alignment`: bytes.
    CacheAlign,
}

/// One figure of one CPU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CpuValue<'a> {
    /// A string ("unknown" where the file has none, as pmdalinux says).
    Str(&'a str),
    /// A count.
    U32(u32),
    /// A rate.
    F32(f32),
}

/// The CPUs of one read of `/proc/cpuinfo`.
#[derive(Debug, Default)]
pub struct CpuInfo {
    text: String,
    /// Per-CPU descriptions indexed by processor number.
    cpus: Vec<Option<Desc>>,
    /// The description shared by every CPU (arm64/s390 layout), if any.
    shared: Option<Desc>,
}

/// `strncasecmp(line, prefix, strlen(prefix)) == 0`.
fn starts_ci(line: &str, prefix: &str) -> bool {
    line.len() >= prefix.len()
        && line.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// C's `atof` for decimal text: the longest leading number (after white
/// space: a sign, digits with an optional fraction, an optional exponent),
/// 0 without one.
pub fn c_atof(s: &str) -> f64 {
    let s = s.trim_start();
    let b = s.as_bytes();
    let digits_from = |i: usize| {
        i + b[i.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let int_end = digits_from(i);
    let mut seen = int_end > i;
    i = int_end;
    if b.get(i) == Some(&b'.') {
        let frac_end = digits_from(i + 1);
        if frac_end > i + 1 || seen {
            seen = true;
            i = frac_end;
        }
    }
    if !seen {
        return 0.0;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
        let exp_end = digits_from(i + 1 + sign);
        if exp_end > i + 1 + sign {
            i = exp_end;
        }
    }
    s[..i].parse().unwrap_or(0.0)
}

/// C's `atoi`: the leading decimal integer (after white space), 0 without
/// one; saturating rather than overflowing.
pub fn c_atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for c in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

impl CpuInfo {
    /// Parses `bytes` (lines that are not UTF-8 are skipped).
    pub fn parse(&mut self, bytes: &[u8]) {
        self.text.clear();
        match std::str::from_utf8(bytes) {
            Ok(s) => self.text.push_str(s),
            Err(_) => {
                // Keep the valid lines only, as a line reader would.
                for line in bytes.split(|&b| b == b'\n') {
                    if let Ok(l) = std::str::from_utf8(line) {
                        self.text.push_str(l);
                        self.text.push('\n');
                    }
                }
            }
        }
        self.cpus.clear();
        self.shared = None;
        let text = self.text.as_str();
        // The CPU being described: its processor number.
        let mut cur: Option<usize> = None;
        let mut ordinal: usize = 0;
        let mut shared_mode = false;
        let mut previous_was_processor = false;
        let mut pos = 0usize;
        for line in text.split('\n') {
            let start = pos;
            pos += line.len() + 1;
            let Some(colon) = line.find(':') else {
                continue;
            };
            if line.starts_with("processor") {
                if previous_was_processor {
                    shared_mode = true;
                    self.shared.get_or_insert_with(Desc::default);
                }
                previous_was_processor = true;
                // `processor : N` or s390's `processor N: ...`.
                let number = line[9..colon]
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .or_else(|| line[colon + 1..].trim().parse::<usize>().ok());
                cur = Some(number.unwrap_or(ordinal));
                ordinal += 1;
                continue;
            }
            previous_was_processor = false;
            let desc = match cur {
                Some(n) if !shared_mode => {
                    if n >= MAX_CPUS {
                        continue;
                    }
                    if self.cpus.len() <= n {
                        self.cpus.resize(n + 1, None);
                    }
                    self.cpus[n].get_or_insert_with(Desc::default)
                }
                _ => {
                    shared_mode = true;
                    self.shared.get_or_insert_with(Desc::default)
                }
            };
            // pmdalinux steps over ": " whatever follows the colon.
            let vstart = (colon + 2).min(line.len());
            let value = &line[vstart..];
            let range = start + vstart..start + line.len();
            apply(desc, line, value, range);
        }
    }

    /// Processor numbers described one by one, in order (none in the
    /// shared layout).
    pub fn processors(&self) -> impl Iterator<Item = u32> + '_ {
        self.cpus
            .iter()
            .enumerate()
            .filter(|(_, d)| d.is_some())
            .map(|(n, _)| n as u32)
    }

    fn desc(&self, cpu: u32) -> Option<&Desc> {
        self.shared
            .as_ref()
            .or_else(|| self.cpus.get(cpu as usize)?.as_ref())
    }

    fn str_of(&self, r: &Option<Range<usize>>) -> Option<&str> {
        r.as_ref().map(|r| &self.text[r.clone()])
    }

    /// CPU `cpu`'s figure `f` as pmdalinux answers it: strings are
    /// "unknown" where the file has none (for the model and the model name
    /// each stands in for the other), numbers have no value where they
    /// are missing or zero.
    pub fn value(&self, cpu: u32, f: CpuField) -> Option<CpuValue<'_>> {
        let d = self.desc(cpu);
        let text = |pick: fn(&Desc) -> &Option<Range<usize>>| -> Option<&str> {
            d.and_then(|d| self.str_of(pick(d)))
        };
        let s = match f {
            CpuField::Vendor => text(|d| &d.vendor),
            CpuField::Stepping => text(|d| &d.stepping),
            CpuField::Flags => text(|d| &d.flags),
            CpuField::Model => text(|d| &d.model).or_else(|| text(|d| &d.model_name)),
            CpuField::ModelName => text(|d| &d.model_name).or_else(|| text(|d| &d.model)),
            CpuField::Cache => return d.map(|d| d.cache).filter(|v| *v != 0).map(CpuValue::U32),
            CpuField::CacheAlign => {
                return d
                    .map(|d| d.cache_align)
                    .filter(|v| *v != 0)
                    .map(CpuValue::U32)
            }
            CpuField::Bogomips => {
                return d
                    .map(|d| d.bogomips)
                    .filter(|v| *v != 0.0)
                    .map(CpuValue::F32)
            }
            CpuField::Clock => return d.map(|d| d.clock).filter(|v| *v != 0.0).map(CpuValue::F32),
        };
        Some(CpuValue::Str(s.unwrap_or("unknown")))
    }
}

/// One `key: value` line applied to a CPU's description, in pmdalinux's
/// order of tests.
fn apply(d: &mut Desc, line: &str, value: &str, range: Range<usize>) {
    let r = Some(range.clone());
    if !d.sapic && starts_ci(line, "sapic") {
        d.sapic = true;
    } else if d.model_name.is_none()
        && (starts_ci(line, "model name") || starts_ci(line, "hardware"))
    {
        d.model_name = r;
    } else if d.model.is_none()
        && (starts_ci(line, "model")
            || starts_ci(line, "cpu model")
            || starts_ci(line, "cpu variant"))
    {
        d.model = r;
    } else if d.vendor.is_none()
        && (starts_ci(line, "vendor") || starts_ci(line, "cpu implementer"))
    {
        d.vendor = r;
    } else if d.stepping.is_none()
        && (starts_ci(line, "step")
            || starts_ci(line, "revision")
            || starts_ci(line, "cpu revision"))
    {
        d.stepping = r;
    } else if d.flags.is_none() && starts_ci(line, "flags") {
        d.flags = r;
    } else if d.flags.is_none() && starts_ci(line, "features") {
        let lead = value.len() - value.trim_start().len();
        let t = value.trim();
        d.flags = Some(range.start + lead..range.start + lead + t.len());
    } else if d.cache == 0 && starts_ci(line, "cache size") {
        d.cache = c_atoi(value) as u32;
    } else if d.cache_align == 0 && starts_ci(line, "cache_align") {
        d.cache_align = c_atoi(value) as u32;
    } else if d.bogomips == 0.0 && starts_ci(line, "bogo") {
        d.bogomips = c_atof(value) as f32;
    } else if starts_ci(line, "cpu MHz") {
        d.clock = c_atof(value) as f32;
    } else if d.clock == 0.0 && starts_ci(line, "cycle frequency") {
        // "499714426 est.": the first word, in Hz.
        let hz = value.split(' ').next().unwrap_or("");
        d.clock = (c_atof(hz) / 1_000_000.0) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(c: &CpuInfo, cpu: u32, f: CpuField) -> Option<CpuValue<'_>> {
        c.value(cpu, f)
    }

    #[test]
    fn x86_blocks_per_processor() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 60\n\
model name\t: Intel(R) Core(TM) i7-4810MQ CPU @ 2.80GHz\nstepping\t: 3\ncpu MHz\t\t: 2800.109\n\
cache size\t: 6144 KB\nflags\t\t: fpu vme\nbogomips\t: 5586.95\ncache_alignment\t: 64\n\n\
processor\t: 1\nvendor_id\t: AuthenticAMD\ncpu MHz\t\t: 1200.5\n\n";
        let mut c = CpuInfo::default();
        for _ in 0..2 {
            c.parse(text.as_bytes());
            assert_eq!(c.processors().collect::<Vec<_>>(), vec![0, 1]);
            assert_eq!(
                strs(&c, 0, CpuField::Vendor),
                Some(CpuValue::Str("GenuineIntel"))
            );
            assert_eq!(strs(&c, 0, CpuField::Model), Some(CpuValue::Str("60")));
            assert_eq!(
                strs(&c, 0, CpuField::ModelName),
                Some(CpuValue::Str("Intel(R) Core(TM) i7-4810MQ CPU @ 2.80GHz"))
            );
            assert_eq!(strs(&c, 0, CpuField::Cache), Some(CpuValue::U32(6144)));
            assert_eq!(strs(&c, 0, CpuField::CacheAlign), Some(CpuValue::U32(64)));
            assert_eq!(strs(&c, 0, CpuField::Clock), Some(CpuValue::F32(2800.109)));
            assert_eq!(
                strs(&c, 0, CpuField::Bogomips),
                Some(CpuValue::F32(5586.95))
            );
            assert_eq!(strs(&c, 0, CpuField::Flags), Some(CpuValue::Str("fpu vme")));
            assert_eq!(
                strs(&c, 1, CpuField::Vendor),
                Some(CpuValue::Str("AuthenticAMD"))
            );
            // Missing strings read "unknown", missing numbers nothing.
            assert_eq!(
                strs(&c, 1, CpuField::Stepping),
                Some(CpuValue::Str("unknown"))
            );
            assert_eq!(strs(&c, 1, CpuField::Cache), None);
            assert_eq!(
                strs(&c, 7, CpuField::Vendor),
                Some(CpuValue::Str("unknown"))
            );
        }
    }

    #[test]
    fn arm64_shared_block_after_processor_list() {
        // Linux 3.17 on an APM X-Gene (PCP QA's cpuinfo-8cpu-aarch64).
        let text =
            "Processor\t: AArch64 Processor rev 0 (aarch64)\nprocessor\t: 0\nprocessor\t: 1\n\
Features\t: fp asimd evtstrm \nCPU implementer\t: 0x50\nCPU architecture: AArch64\n\
CPU variant\t: 0x0\nCPU part\t: 0x000\nCPU revision\t: 0\n\nHardware\t: APM X-Gene Mustang board\n";
        let mut c = CpuInfo::default();
        c.parse(text.as_bytes());
        for cpu in 0..2 {
            assert_eq!(
                c.value(cpu, CpuField::Flags),
                Some(CpuValue::Str("fp asimd evtstrm"))
            );
            assert_eq!(c.value(cpu, CpuField::Vendor), Some(CpuValue::Str("0x50")));
            assert_eq!(c.value(cpu, CpuField::Model), Some(CpuValue::Str("0x0")));
            assert_eq!(c.value(cpu, CpuField::Stepping), Some(CpuValue::Str("0")));
            assert_eq!(
                c.value(cpu, CpuField::ModelName),
                Some(CpuValue::Str("APM X-Gene Mustang board"))
            );
        }
    }

    #[test]
    fn s390_header_then_processor_lines() {
        let text = "vendor_id       : IBM/S390\n# processors    : 2\nbogomips per cpu: 2913.00\n\
features\t: esan3 zarch stfle \nprocessor 0: version = FF,  identification = 32C047,  machine = 2827\n\
processor 1: version = FF,  identification = 32C047,  machine = 2827\n";
        let mut c = CpuInfo::default();
        c.parse(text.as_bytes());
        assert_eq!(
            c.value(1, CpuField::Vendor),
            Some(CpuValue::Str("IBM/S390"))
        );
        assert_eq!(c.value(1, CpuField::Bogomips), Some(CpuValue::F32(2913.0)));
        assert_eq!(
            c.value(0, CpuField::Flags),
            Some(CpuValue::Str("esan3 zarch stfle"))
        );
    }

    #[test]
    fn alpha_cycle_frequency_and_powerpc_revision() {
        let mut c = CpuInfo::default();
        c.parse(b"cpu                     : Alpha\ncpu model               : EV56\ncpu revision            : 0\n\
cycle frequency [Hz]    : 499714426 est.\nBogoMIPS                : 992.88\n");
        assert_eq!(c.value(0, CpuField::Model), Some(CpuValue::Str("EV56")));
        assert_eq!(c.value(0, CpuField::ModelName), Some(CpuValue::Str("EV56")));
        assert_eq!(c.value(0, CpuField::Stepping), Some(CpuValue::Str("0")));
        assert_eq!(
            c.value(0, CpuField::Clock),
            Some(CpuValue::F32((499714426.0f64 / 1e6) as f32))
        );
        c.parse(b"processor\t: 0\ncpu\t\t: 7447A, altivec supported\nclock\t\t: 1666.666000MHz\nrevision\t: 1.2 (pvr 8003 0102)\nbogomips\t: 73.72\n");
        assert_eq!(
            c.value(0, CpuField::Stepping),
            Some(CpuValue::Str("1.2 (pvr 8003 0102)"))
        );
        assert_eq!(c.value(0, CpuField::Clock), None);
        assert_eq!(c.value(0, CpuField::Model), Some(CpuValue::Str("unknown")));
    }

    #[test]
    fn first_value_wins_but_the_clock_is_the_last() {
        let mut c = CpuInfo::default();
        c.parse(b"processor : 0\nvendor_id : A\nvendor_id : B\ncpu MHz : 1\ncpu MHz : 2\n");
        assert_eq!(c.value(0, CpuField::Vendor), Some(CpuValue::Str("A")));
        assert_eq!(c.value(0, CpuField::Clock), Some(CpuValue::F32(2.0)));
        // "model name" is taken before the "model" prefix could take it.
        c.parse(b"processor : 0\nmodel name : X\nmodel name : Y\n");
        assert_eq!(c.value(0, CpuField::ModelName), Some(CpuValue::Str("X")));
        assert_eq!(c.value(0, CpuField::Model), Some(CpuValue::Str("Y")));
    }

    #[test]
    fn hostile_input_is_bounded() {
        let mut c = CpuInfo::default();
        c.parse(
            b"processor : 4000000000\nvendor : x\nprocessor:\n:\n\xff\xfe\nprocessor : 2\nmodel:\n",
        );
        assert_eq!(c.processors().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(c.value(2, CpuField::Model), Some(CpuValue::Str("")));
    }

    #[test]
    fn c_number_prefixes() {
        assert_eq!(c_atof(" 2913.00"), 2913.0);
        assert_eq!(c_atof("499714426 est."), 499714426.0);
        assert_eq!(c_atof("1e3x"), 1000.0);
        assert_eq!(c_atof("-.5"), -0.5);
        assert_eq!(c_atof("."), 0.0);
        assert_eq!(c_atof("abc"), 0.0);
        assert_eq!(c_atoi("6144 KB"), 6144);
        assert_eq!(c_atoi("  -3"), -3);
        assert_eq!(c_atoi("x"), 0);
    }
}
