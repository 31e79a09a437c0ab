//! Typed columns for evaluation: a node's numbers are kept as raw 64-bit
//! patterns in the node's own type (its descriptor fixes one type for
//! every value), so each operation picks its loop once per node and runs
//! over plain integers and floats, not over [`Value`]s one by one.
//!
//! The conversions are C's, as libpcp's derived metrics do them: integers
//! reach another integer type through a 64-bit signed view (a negative
//! 32-bit value read as unsigned keeps its bits), floats truncate toward
//! zero, a float stays a float only when it was one.

use super::ast::BinOp;
use crate::desc::Type;
use crate::value::Value;

/// One number in its type, to and from its column's bit pattern.
pub(crate) trait Num: Copy + PartialOrd + Default {
    /// The number a column entry holds.
    fn get(bits: u64) -> Self;
    /// The column entry for the number.
    fn put(self) -> u64;
    /// C's conversion to a signed 64-bit integer (floats truncate).
    fn to_i64(self) -> i64;
    /// The number as a double.
    fn to_f64(self) -> f64;
    /// The number as a float (a float unchanged, others through double).
    fn to_f32(self) -> f32 {
        self.to_f64() as f32
    }
    /// This type's value of any number, as libpcp converts operands.
    fn from_num<S: Num>(s: S) -> Self;
    /// `a + b`, `a - b`, `a * b` (integers wrap), or 0 for any other
    /// operator (a quotient is always a double).
    fn arith(op: BinOp, a: Self, b: Self) -> Self;
    /// `-x` (integers wrap).
    fn neg(self) -> Self;
    /// `a - b` in this type (integers wrap), as a double: rate()'s
    /// difference.
    fn diff_f64(a: Self, b: Self) -> f64;
    /// `x * mult / div` with integer rounding (`(x * mult + div / 2) /
    /// div`, wrapping) or in floating point: pmConvScale's arithmetic.
    fn rescale(self, mult: i64, div: i64) -> Self;
    /// The value it stands for.
    fn value(self) -> Value;
}

macro_rules! int_num {
    ($t:ty, $variant:ident, $get:expr, $put:expr, $from:expr, $rescale:expr) => {
        impl Num for $t {
            #[inline]
            fn get(bits: u64) -> Self {
                $get(bits)
            }
            #[inline]
            fn put(self) -> u64 {
                $put(self)
            }
            #[inline]
            fn to_i64(self) -> i64 {
                self as i64
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn from_num<S: Num>(s: S) -> Self {
                $from(s.to_i64())
            }
            #[inline]
            fn arith(op: BinOp, a: Self, b: Self) -> Self {
                match op {
                    BinOp::Add => a.wrapping_add(b),
                    BinOp::Sub => a.wrapping_sub(b),
                    BinOp::Mul => a.wrapping_mul(b),
                    _ => 0,
                }
            }
            #[inline]
            fn neg(self) -> Self {
                self.wrapping_neg()
            }
            #[inline]
            fn diff_f64(a: Self, b: Self) -> f64 {
                a.wrapping_sub(b) as f64
            }
            #[inline]
            fn rescale(self, mult: i64, div: i64) -> Self {
                $rescale(self, mult, div)
            }
            fn value(self) -> Value {
                Value::$variant(self)
            }
        }
    };
}

/// pmConvScale's integer rounding through 64 bits (signed).
#[inline]
fn rescale_i64(x: i64, mult: i64, div: i64) -> i64 {
    x.wrapping_mul(mult)
        .wrapping_add(div / 2)
        .wrapping_div(div.max(1))
}

int_num!(
    i32,
    I32,
    |b: u64| b as i32,
    |v: i32| v as i64 as u64,
    |x: i64| x as i32,
    |v: i32, m, d| rescale_i64(v as i64, m, d) as i32
);
int_num!(
    u32,
    U32,
    |b: u64| b as u32,
    |v: u32| v as u64,
    |x: i64| x as u32,
    |v: u32, m, d| rescale_i64(v as i64, m, d) as u32
);
int_num!(
    i64,
    I64,
    |b: u64| b as i64,
    |v: i64| v as u64,
    |x: i64| x,
    rescale_i64
);
int_num!(
    u64,
    U64,
    |b: u64| b,
    |v: u64| v,
    |x: i64| x as u64,
    |v: u64, m: i64, d: i64| v
        .wrapping_mul(m as u64)
        .wrapping_add((d / 2) as u64)
        .wrapping_div((d as u64).max(1))
);

impl Num for f32 {
    #[inline]
    fn get(bits: u64) -> Self {
        f32::from_bits(bits as u32)
    }
    #[inline]
    fn put(self) -> u64 {
        self.to_bits() as u64
    }
    #[inline]
    fn to_i64(self) -> i64 {
        self as i64
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline]
    fn from_num<S: Num>(s: S) -> Self {
        s.to_f32()
    }
    #[inline]
    fn arith(op: BinOp, a: Self, b: Self) -> Self {
        match op {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            _ => 0.0,
        }
    }
    #[inline]
    fn neg(self) -> Self {
        -self
    }
    #[inline]
    fn diff_f64(a: Self, b: Self) -> f64 {
        (a - b) as f64
    }
    #[inline]
    fn rescale(self, mult: i64, div: i64) -> Self {
        self * (mult as f32 / div as f32)
    }
    fn value(self) -> Value {
        Value::Float(self)
    }
}

impl Num for f64 {
    #[inline]
    fn get(bits: u64) -> Self {
        f64::from_bits(bits)
    }
    #[inline]
    fn put(self) -> u64 {
        self.to_bits()
    }
    #[inline]
    fn to_i64(self) -> i64 {
        self as i64
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn from_num<S: Num>(s: S) -> Self {
        s.to_f64()
    }
    #[inline]
    fn arith(op: BinOp, a: Self, b: Self) -> Self {
        match op {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            // libpcp: a zero numerator is zero whatever the divisor, so
            // 0/0 (an idle disk's wait) gives 0, not NaN.
            _ if a == 0.0 => 0.0,
            _ => a / b,
        }
    }
    #[inline]
    fn neg(self) -> Self {
        -self
    }
    #[inline]
    fn diff_f64(a: Self, b: Self) -> f64 {
        a - b
    }
    #[inline]
    fn rescale(self, mult: i64, div: i64) -> Self {
        self * (mult as f64 / div as f64)
    }
    fn value(self) -> Value {
        Value::Double(self)
    }
}

/// Runs `$body` with `$T` standing for the Rust type of numeric PCP type
/// `$ty` (a non-numeric type runs it as double: callers check first).
macro_rules! with_num {
    ($ty:expr, $T:ident => $body:expr) => {
        match $ty {
            $crate::desc::Type::I32 => {
                type $T = i32;
                $body
            }
            $crate::desc::Type::U32 => {
                type $T = u32;
                $body
            }
            $crate::desc::Type::I64 => {
                type $T = i64;
                $body
            }
            $crate::desc::Type::U64 => {
                type $T = u64;
                $body
            }
            $crate::desc::Type::Float => {
                type $T = f32;
                $body
            }
            _ => {
                type $T = f64;
                $body
            }
        }
    };
}
pub(crate) use with_num;

/// The column entry, in type `D`, for a fetched value (a value of another
/// type than its descriptor's is converted as C would; a string is 0).
#[inline]
pub(crate) fn bits_as<D: Num>(v: &Value) -> u64 {
    match *v {
        Value::I32(x) => D::from_num(x).put(),
        Value::U32(x) => D::from_num(x).put(),
        Value::I64(x) => D::from_num(x).put(),
        Value::U64(x) => D::from_num(x).put(),
        Value::Float(x) => D::from_num(x).put(),
        Value::Double(x) => D::from_num(x).put(),
        _ => D::default().put(),
    }
}

/// [`bits_as`] for a type known at run time.
pub(crate) fn bits_of(ty: Type, v: &Value) -> u64 {
    with_num!(ty, D => bits_as::<D>(v))
}

/// The value a column entry of type `ty` stands for.
#[cfg(test)]
pub(crate) fn value_of(ty: Type, bits: u64) -> Value {
    with_num!(ty, T => T::get(bits).value())
}

/// Whether a column entry of type `ty` is not zero.
pub(crate) fn truth(ty: Type, bits: u64) -> bool {
    with_num!(ty, T => T::get(bits) != T::default())
}

/// The entry of `1` or `0` in type `ty`.
pub(crate) fn of_bool(ty: Type, yes: bool) -> u64 {
    with_num!(ty, T => T::from_num(yes as u32).put())
}

/// Appends `src` (entries of type `from`) converted to type `to`.
pub(crate) fn convert(from: Type, to: Type, src: &[u64], out: &mut Vec<u64>) {
    fn each<S: Num, D: Num>(src: &[u64], out: &mut Vec<u64>) {
        out.extend(src.iter().map(|&b| D::from_num(S::get(b)).put()));
    }
    if from == to {
        out.extend_from_slice(src);
        return;
    }
    with_num!(from, S => with_num!(to, D => each::<S, D>(src, out)))
}

/// Multiplies every entry of a double column by `mult / div` (unit scale
/// factors, as libpcp divides then multiplies), unless both are 1.
pub(crate) fn scale_doubles(col: &mut [u64], (mult, div): (f64, f64)) {
    if mult == 1.0 && div == 1.0 {
        return;
    }
    for b in col {
        *b = ((f64::from_bits(*b) / div) * mult).to_bits();
    }
}

/// `out[k] = a[i] op b[j]` in type `T` for each pair of positions (one
/// loop per operator).
pub(crate) fn arith_pairs<T: Num>(
    op: BinOp,
    a: &[u64],
    b: &[u64],
    pairs: Pairs<'_>,
    out: &mut Vec<u64>,
) {
    macro_rules! each {
        ($($o:ident),*) => {
            match op {
                $(BinOp::$o => map_pairs(a, b, pairs, out, |x: T, y| T::arith(BinOp::$o, x, y)),)*
                _ => map_pairs(a, b, pairs, out, |x: T, y| T::arith(BinOp::Div, x, y)),
            }
        };
    }
    each!(Add, Sub, Mul)
}

/// Relational and boolean comparisons (`op` one of `< <= == >= > != &&
/// ||`), in type `T`, as unsigned 0 or 1.
pub(crate) fn compare_pairs<T: Num>(
    op: BinOp,
    a: &[u64],
    b: &[u64],
    pairs: Pairs<'_>,
    out: &mut Vec<u64>,
) {
    macro_rules! each {
        ($($o:ident),*) => {
            match op {
                $(BinOp::$o => map_pairs(a, b, pairs, out, |x: T, y: T| holds(BinOp::$o, x, y) as u32),)*
                _ => map_pairs(a, b, pairs, out, |_: T, _: T| 0u32),
            }
        };
    }
    each!(Lt, Le, Eq, Ge, Gt, Ne, And, Or)
}

/// Whether `a op b` holds for a relational or boolean operator.
#[inline]
fn holds<T: Num>(op: BinOp, a: T, b: T) -> bool {
    let zero = T::default();
    match op {
        BinOp::Lt => a < b,
        BinOp::Le => a <= b,
        BinOp::Eq => a == b,
        BinOp::Ge => a >= b,
        BinOp::Gt => a > b,
        BinOp::Ne => a != b,
        BinOp::And => a != zero && b != zero,
        BinOp::Or => a != zero || b != zero,
        _ => false,
    }
}

/// `out[k] = f(a[i], b[j])` for each pair (the typed loop of delta() and
/// rate(), whose operands are the same metric now and before).
pub(crate) fn map_pairs<S: Num, D: Num>(
    a: &[u64],
    b: &[u64],
    pairs: Pairs<'_>,
    out: &mut Vec<u64>,
    f: impl Fn(S, S) -> D,
) {
    let g = |x: u64, y: u64| f(S::get(x), S::get(y)).put();
    match pairs {
        Pairs::Same(n) => out.extend(a[..n].iter().zip(&b[..n]).map(|(&x, &y)| g(x, y))),
        Pairs::LeftAll(j) => out.extend(a.iter().map(|&x| g(x, b[j]))),
        Pairs::RightAll(i) => out.extend(b.iter().map(|&y| g(a[i], y))),
        Pairs::Listed(list) => {
            out.extend(list.iter().map(|&(i, j)| g(a[i as usize], b[j as usize])))
        }
    }
}

/// delta()'s differences `now - before` of an operand of type `ty`, in
/// the node's type: 32-bit counters give a signed 64-bit difference,
/// unsigned 64-bit ones a double, others their own type (integers wrap).
pub(crate) fn delta_pairs(
    ty: Type,
    now: &[u64],
    before: &[u64],
    pairs: Pairs<'_>,
    out: &mut Vec<u64>,
) {
    let (a, b) = (now, before);
    match ty {
        Type::I32 => map_pairs(a, b, pairs, out, |p: i32, q| p.wrapping_sub(q)),
        Type::U32 => map_pairs(a, b, pairs, out, |p: u32, q| p as i64 - q as i64),
        Type::I64 => map_pairs(a, b, pairs, out, |p: i64, q| p.wrapping_sub(q)),
        Type::U64 => map_pairs(a, b, pairs, out, |p: u64, q| p as f64 - q as f64),
        Type::Float => map_pairs(a, b, pairs, out, |p: f32, q| p - q),
        _ => map_pairs(a, b, pairs, out, |p: f64, q| p - q),
    }
}

/// Which entries of two operands go together.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pairs<'a> {
    /// Position `k` with position `k`, for the first `n`.
    Same(usize),
    /// Every left entry with right entry `j` (a singular right operand).
    LeftAll(usize),
    /// Left entry `i` with every right entry (a singular left operand).
    RightAll(usize),
    /// These (left, right) positions.
    Listed(&'a [(u32, u32)]),
}

#[cfg(test)]
mod tests;
