//! The x86-64 `long double` (x87 80-bit extended precision) that redis-server computes
//! INCRBYFLOAT (and HINCRBYFLOAT) in, emulated with integers: parsing as Redis's `string2ld`
//! (glibc's `strtold`, correctly rounded), addition with one rounding to nearest-even, and
//! printing as Redis's `ld2string(.., LD_STR_HUMAN)` (`"%.17Lf"`, trailing zeros trimmed).
//!
//! Why emulate: the reply and the stored string of INCRBYFLOAT depend on how the 80-bit format
//! rounds (0.1 + 0.2 is "0.30000000000000000" there, 0.30000000000000004 in f64), and every
//! replica must store the same bytes. Rust has no `long double`, and platform float formatting
//! or parsing is not the same everywhere; this module is pure integer code, so its output is a
//! function of its input on every machine.
//!
//! The format: a 64-bit significand with an explicit integer bit, exponents such that normal
//! values are `mant * 2^exp` with `mant >= 2^63` and `EXP_MIN <= exp <= EXP_MAX`; subnormals
//! (and zero) have `exp == EXP_MIN` and `mant < 2^63`. Precision control is the Linux default
//! (64 bits), rounding is to nearest, ties to even, as on redis-server's x86-64 builds.
//!
//! Invariants: every `LongDouble::Finite` is in that canonical form (`round` is the only
//! constructor of non-trivial values); all arithmetic is exact on integers until `round`.
//!
//! Not here: multiplication, division, `%.17Lg` (LD_STR_AUTO) or hex printing; other platforms'
//! long double (aarch64's is 128-bit: a redis-server there gives other digits).

use std::cmp::Ordering;

/// Smallest exponent: the unit in the last place of subnormals and of the smallest normals
/// (2^-16382 = 2^63 * 2^-16445).
const EXP_MIN: i64 = -16445;
/// Largest exponent: the largest finite value is (2^64 - 1) * 2^16320.
const EXP_MAX: i64 = 16320;
/// Redis's `MAX_LONG_DOUBLE_CHARS`: `string2ld` refuses strings of this length or longer.
pub const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// An 80-bit extended precision value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LongDouble {
    /// `(-1)^neg * mant * 2^exp` in canonical form (see the module header); `mant == 0` is a
    /// signed zero.
    Finite {
        neg: bool,
        mant: u64,
        exp: i32,
    },
    Inf {
        neg: bool,
    },
    Nan,
}

impl LongDouble {
    pub const ZERO: LongDouble = LongDouble::Finite {
        neg: false,
        mant: 0,
        exp: EXP_MIN as i32,
    };

    fn zero(neg: bool) -> LongDouble {
        LongDouble::Finite {
            neg,
            mant: 0,
            exp: EXP_MIN as i32,
        }
    }

    pub fn is_finite(self) -> bool {
        matches!(self, LongDouble::Finite { .. })
    }
}

/// Round `(q + d) * 2^e`, `0 <= d < 1` (`sticky` iff `d > 0`), to the nearest value, ties to
/// even. With `sticky`, `q` must have at least 65 bits, so the rounding position lies inside
/// `q` and `d` only breaks ties.
fn round(neg: bool, q: u128, e: i64, sticky: bool) -> LongDouble {
    if q == 0 {
        debug_assert!(!sticky, "a remainder without a quotient");
        return LongDouble::zero(neg);
    }
    let bits = 128 - i64::from(q.leading_zeros());
    debug_assert!(!sticky || bits >= 65, "too few bits to round: {bits}");
    let mut ulp = (e + bits - 64).max(EXP_MIN);
    if ulp > EXP_MAX {
        return LongDouble::Inf { neg };
    }
    if ulp <= e {
        // Exact: at most 64 significant bits, shifted into place.
        return LongDouble::Finite {
            neg,
            mant: (q << (e - ulp)) as u64,
            exp: ulp as i32,
        };
    }
    let shift = ulp - e;
    if shift > 128 {
        // q < 2^128 <= half an ulp.
        return LongDouble::zero(neg);
    }
    let (mut m, rem, half) = if shift == 128 {
        (0u128, q, 1u128 << 127)
    } else {
        (q >> shift, q & ((1u128 << shift) - 1), 1u128 << (shift - 1))
    };
    if rem > half || (rem == half && (sticky || m & 1 == 1)) {
        m += 1;
        if m == 1u128 << 64 {
            m = 1u128 << 63;
            ulp += 1;
            if ulp > EXP_MAX {
                return LongDouble::Inf { neg };
            }
        }
    }
    LongDouble::Finite {
        neg,
        mant: m as u64,
        exp: ulp as i32,
    }
}

/// `a + b` rounded once to nearest-even, as the x87 FPU adds two long doubles.
pub fn add(a: LongDouble, b: LongDouble) -> LongDouble {
    use LongDouble::{Finite, Inf, Nan};
    let ((an, am, ae), (bn, bm, be)) = match (a, b) {
        (Nan, _) | (_, Nan) => return Nan,
        (Inf { neg: x }, Inf { neg: y }) => return if x == y { a } else { Nan },
        (Inf { .. }, _) => return a,
        (_, Inf { .. }) => return b,
        (
            Finite {
                neg: an,
                mant: am,
                exp: ae,
            },
            Finite {
                neg: bn,
                mant: bm,
                exp: be,
            },
        ) => ((an, am, i64::from(ae)), (bn, bm, i64::from(be))),
    };
    if am == 0 && bm == 0 {
        // -0 + -0 is -0; any other sum of zeros is +0.
        return LongDouble::zero(an && bn);
    }
    if am == 0 {
        return b;
    }
    if bm == 0 {
        return a;
    }
    // `big` has the larger exponent; both are placed 62 bits above the smaller ulp of `big`.
    let ((an, am, ae), (bn, bm, be)) = if ae >= be {
        ((an, am, ae), (bn, bm, be))
    } else {
        ((bn, bm, be), (an, am, ae))
    };
    let base = ae - 62;
    let big = u128::from(am) << 62;
    let d = be - base;
    let (small, sticky) = if d >= 0 {
        (u128::from(bm) << d, false)
    } else if -d >= 128 {
        (0, true)
    } else {
        let k = -d;
        (
            u128::from(bm) >> k,
            u128::from(bm) & ((1u128 << k) - 1) != 0,
        )
    };
    // With `sticky`, `a` is normal and `d < 0`, so `big >= 2^125 > small`: the results below
    // keep at least 65 bits, as `round` needs.
    if an == bn {
        round(an, big + small, base, sticky)
    } else if big > small {
        if sticky {
            // big - (small + d) = (big - small - 1) + (1 - d).
            round(an, big - small - 1, base, true)
        } else {
            round(an, big - small, base, false)
        }
    } else if big < small {
        round(bn, small - big, base, false)
    } else {
        LongDouble::ZERO
    }
}

/// C's `isspace` in the C locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn eq_ci(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn starts_ci(a: &[u8], prefix: &[u8]) -> bool {
    a.len() >= prefix.len() && eq_ci(&a[..prefix.len()], prefix)
}

/// A decimal exponent's digits (after `e` or `p`): optional sign, at least one digit; its
/// value saturates far beyond any exponent that matters. `None` if malformed.
fn parse_exponent(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits.iter().fold(0i64, |v, &c| {
        (v * 10 + i64::from(c - b'0')).min(1_000_000_000)
    });
    Some(if neg { -v } else { v })
}

/// Redis's `string2ld`: the whole string must be one number as glibc's `strtold` reads it in
/// the C locale (decimal, `0x` hexadecimal with an optional `p` exponent, `inf`, `infinity`),
/// without leading space, shorter than 5120 bytes, not NaN, and neither overflowing to
/// infinity nor underflowing to zero (`ERANGE`). Subnormal results are accepted.
pub fn parse(s: &[u8]) -> Option<LongDouble> {
    if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS || is_c_space(s[0]) {
        return None;
    }
    let (neg, body) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if starts_ci(body, b"inf") {
        return (eq_ci(body, b"inf") || eq_ci(body, b"infinity"))
            .then_some(LongDouble::Inf { neg });
    }
    if starts_ci(body, b"0x") {
        return parse_hex(neg, &body[2..]);
    }
    parse_decimal(neg, body)
}

/// The digits after `0x`: hex digits with an optional point, then an optional binary exponent.
fn parse_hex(neg: bool, s: &[u8]) -> Option<LongDouble> {
    // The first 30 significant hex digits (120 bits) are kept; later ones only matter as a
    // nonzero remainder (`sticky`) and through the exponent.
    const KEEP: u32 = 30;
    let (mut q, mut kept, mut sticky, mut e2, mut any) = (0u128, 0u32, false, 0i64, false);
    let mut i = 0;
    let mut in_fraction = false;
    while i < s.len() {
        let c = s[i];
        let d = match c {
            b'.' if !in_fraction => {
                in_fraction = true;
                i += 1;
                continue;
            }
            _ => match (c as char).to_digit(16) {
                Some(d) => d,
                None => break,
            },
        };
        any = true;
        if kept == 0 && d == 0 {
            // A leading zero: only its place matters.
            if in_fraction {
                e2 -= 4;
            }
        } else if kept < KEEP {
            q = q << 4 | u128::from(d);
            kept += 1;
            if in_fraction {
                e2 -= 4;
            }
        } else {
            sticky |= d != 0;
            if !in_fraction {
                e2 += 4;
            }
        }
        i += 1;
    }
    if !any {
        return None;
    }
    if i < s.len() {
        if !matches!(s[i], b'p' | b'P') {
            return None;
        }
        e2 += parse_exponent(&s[i + 1..])?;
    }
    finish(neg, round(neg, q, e2, sticky), q != 0)
}

/// A parsed value as `string2ld` takes it: an overflow to infinity or a nonzero value that
/// rounds to zero is an error (`ERANGE`).
fn finish(neg: bool, v: LongDouble, nonzero_input: bool) -> Option<LongDouble> {
    match v {
        LongDouble::Inf { .. } | LongDouble::Nan => None,
        LongDouble::Finite { mant: 0, .. } if nonzero_input => None,
        LongDouble::Finite { mant: 0, .. } => Some(LongDouble::zero(neg)),
        v => Some(v),
    }
}

fn parse_decimal(neg: bool, s: &[u8]) -> Option<LongDouble> {
    // value = digits * 10^dec_exp, digits without leading zeros.
    let mut digits: Vec<u8> = Vec::new();
    let mut dec_exp: i64 = 0;
    let mut any = false;
    let mut i = 0;
    let mut in_fraction = false;
    while i < s.len() {
        match s[i] {
            b'.' if !in_fraction => in_fraction = true,
            c @ b'0'..=b'9' => {
                any = true;
                if !(digits.is_empty() && c == b'0') {
                    digits.push(c - b'0');
                }
                if in_fraction {
                    dec_exp -= 1;
                }
            }
            _ => break,
        }
        i += 1;
    }
    if !any {
        return None;
    }
    if i < s.len() {
        if !matches!(s[i], b'e' | b'E') {
            return None;
        }
        dec_exp += parse_exponent(&s[i + 1..])?;
    }
    while digits.last() == Some(&0) {
        digits.pop();
        dec_exp += 1;
    }
    if digits.is_empty() {
        return Some(LongDouble::zero(neg));
    }
    let n = digits.len() as i64;
    // The value lies in [10^(n-1+dec_exp), 10^(n+dec_exp)). The largest finite value is
    // about 1.19e4932, half the smallest subnormal about 1.8e-4951.
    if n - 1 + dec_exp >= 4933 {
        return None;
    }
    if n + dec_exp <= -4952 {
        return None;
    }
    let mut num = Big::from_decimal(&digits);
    let mut den = Big::from_u64(1);
    if dec_exp >= 0 {
        num.mul_pow5(dec_exp as u64);
    } else {
        den.mul_pow5((-dec_exp) as u64);
    }
    // value = num / den * 2^dec_exp. Scale so the quotient has 67 or 68 bits.
    let s = 67 - (num.bits() as i64 - den.bits() as i64);
    if s >= 0 {
        num = num.shl(s as u64);
    } else {
        den = den.shl((-s) as u64);
    }
    let (q, rem) = num.div_small_quotient(&den);
    finish(neg, round(neg, q, dec_exp - s, rem), true)
}

/// Redis's `ld2string(.., LD_STR_HUMAN)` of a finite value: `"%.17Lf"` (exact binary value,
/// rounded half to even at 17 decimals, as glibc prints), trailing fractional zeros and a
/// bare point removed, and "-0" written "0". Infinities print as "inf"/"-inf" (Redis's own
/// spelling); NaN as glibc's "nan"/"-nan" would (not reached: callers refuse NaN first).
pub fn format_human(v: LongDouble) -> String {
    let (neg, mant, exp) = match v {
        LongDouble::Finite { neg, mant, exp } => (neg, mant, i64::from(exp)),
        LongDouble::Inf { neg } => return if neg { "-inf" } else { "inf" }.to_string(),
        LongDouble::Nan => return "nan".to_string(),
    };
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if exp >= 0 {
        out.push_str(&Big::from_u64(mant).shl(exp as u64).to_decimal());
    } else {
        const SCALE: u128 = 100_000_000_000_000_000; // 10^17
        let p = u128::from(mant) * SCALE; // < 2^121
        let k = -exp;
        let n = if k >= 128 {
            // p < 2^121 is below half of 2^k.
            0
        } else {
            let (n, rem, half) = (p >> k, p & ((1u128 << k) - 1), 1u128 << (k - 1));
            if rem > half || (rem == half && n & 1 == 1) {
                n + 1
            } else {
                n
            }
        };
        out.push_str(&(n / SCALE).to_string());
        let frac = format!("{:017}", n % SCALE);
        let frac = frac.trim_end_matches('0');
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
    }
    if out == "-0" {
        out = "0".to_string();
    }
    out
}

/// Why INCRBYFLOAT fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncrError {
    /// The current value or the increment is not a valid float.
    NotFloat,
    /// The sum is infinite or NaN.
    NanOrInf,
}

/// INCRBYFLOAT's arithmetic: the new value's string, from the current value (`None`: the key
/// does not exist, which counts as 0) and the increment, as redis-server 7.0 on x86-64.
pub fn incr_by_float(current: Option<&[u8]>, incr: &[u8]) -> Result<String, IncrError> {
    let value = match current {
        None => LongDouble::ZERO,
        Some(s) => parse(s).ok_or(IncrError::NotFloat)?,
    };
    let incr = parse(incr).ok_or(IncrError::NotFloat)?;
    let sum = add(value, incr);
    if !sum.is_finite() {
        return Err(IncrError::NanOrInf);
    }
    Ok(format_human(sum))
}

/// A nonnegative integer of any size: little-endian 32-bit limbs, no high zero limbs. Just
/// what exact parsing and printing need.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(v: u64) -> Big {
        let mut b = Big(vec![v as u32, (v >> 32) as u32]);
        b.trim();
        b
    }

    /// From decimal digit values (0..=9), most significant first.
    fn from_decimal(digits: &[u8]) -> Big {
        let mut b = Big(Vec::with_capacity(digits.len() / 9 + 1));
        for chunk in digits.chunks(9) {
            let v = chunk.iter().fold(0u32, |v, &d| v * 10 + u32::from(d));
            b.mul_add_small(10u32.pow(chunk.len() as u32), v);
        }
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    /// Bit length (0 for zero).
    fn bits(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(&top) => self.0.len() as u64 * 32 - u64::from(top.leading_zeros()),
        }
    }

    /// `self = self * m + a`.
    fn mul_add_small(&mut self, m: u32, a: u32) {
        let mut carry = u64::from(a);
        for limb in &mut self.0 {
            let v = u64::from(*limb) * u64::from(m) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    /// `self *= 5^n`.
    fn mul_pow5(&mut self, mut n: u64) {
        const POW5_13: u32 = 1_220_703_125;
        while n >= 13 {
            self.mul_add_small(POW5_13, 0);
            n -= 13;
        }
        self.mul_add_small(5u32.pow(n as u32), 0);
    }

    fn shl(&self, n: u64) -> Big {
        if self.is_zero() {
            return Big(Vec::new());
        }
        let (limbs, bits) = ((n / 32) as usize, (n % 32) as u32);
        let mut v = vec![0u32; limbs];
        v.reserve(self.0.len() + 1);
        let mut carry = 0u32;
        for &limb in &self.0 {
            if bits == 0 {
                v.push(limb);
            } else {
                v.push(limb << bits | carry);
                carry = limb >> (32 - bits);
            }
        }
        if carry != 0 {
            v.push(carry);
        }
        Big(v)
    }

    fn shr1(&mut self) {
        let mut carry = 0u32;
        for limb in self.0.iter_mut().rev() {
            let next = *limb & 1;
            *limb = *limb >> 1 | carry << 31;
            carry = next;
        }
        self.trim();
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// `self -= other`; `self >= other`.
    fn sub_assign(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let v = i64::from(*limb) - i64::from(other.0.get(i).copied().unwrap_or(0)) - borrow;
            borrow = i64::from(v < 0);
            *limb = (v + (borrow << 32)) as u32;
        }
        debug_assert_eq!(borrow, 0, "subtraction underflow");
        self.trim();
    }

    /// `(floor(self / den), remainder != 0)` for a quotient below 2^69 (binary long division:
    /// one compare-and-subtract per quotient bit).
    fn div_small_quotient(&self, den: &Big) -> (u128, bool) {
        const QBITS: u64 = 69;
        let mut rem = self.clone();
        let mut d = den.shl(QBITS - 1);
        let mut q = 0u128;
        for bit in (0..QBITS).rev() {
            if rem.cmp(&d) != Ordering::Less {
                rem.sub_assign(&d);
                q |= 1u128 << bit;
            }
            d.shr1();
        }
        debug_assert!(rem.cmp(den) == Ordering::Less, "quotient too large");
        (q, !rem.is_zero())
    }

    fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".to_string();
        }
        const CHUNK: u64 = 1_000_000_000;
        let mut limbs = self.0.clone();
        let mut chunks = Vec::new();
        while !limbs.is_empty() {
            let mut rem = 0u64;
            for limb in limbs.iter_mut().rev() {
                let cur = rem << 32 | u64::from(*limb);
                *limb = (cur / CHUNK) as u32;
                rem = cur % CHUNK;
            }
            chunks.push(rem);
            while limbs.last() == Some(&0) {
                limbs.pop();
            }
        }
        let mut out = chunks.pop().expect("nonzero has a chunk").to_string();
        for c in chunks.iter().rev() {
            out.push_str(&format!("{c:09}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> LongDouble {
        parse(s.as_bytes()).unwrap_or_else(|| panic!("{s} did not parse"))
    }

    fn incr(a: &str, b: &str) -> Result<String, IncrError> {
        incr_by_float(Some(a.as_bytes()), b.as_bytes())
    }

    /// Exact binary values of a few decimals in the 80-bit format (computed by hand from the
    /// definition: 64 significant bits, rounded to nearest-even).
    #[test]
    fn parse_rounds_decimals_to_64_significant_bits() {
        assert_eq!(
            p("1"),
            LongDouble::Finite {
                neg: false,
                mant: 1 << 63,
                exp: -63
            }
        );
        // 0.1 = 0xCCCCCCCCCCCCCCCC.CCC.. * 2^-67: the next bit is 1 and more follow, up.
        assert_eq!(
            p("0.1"),
            LongDouble::Finite {
                neg: false,
                mant: 0xCCCC_CCCC_CCCC_CCCD,
                exp: -67
            }
        );
        // 2^64 + 1 needs 65 bits: a tie, to even (down); 2^64 + 3 rounds up.
        assert_eq!(p("18446744073709551617"), p("18446744073709551616"));
        assert_eq!(p("18446744073709551619"), p("18446744073709551620"));
        assert_eq!(p("-2.5"), add(p("-2"), p("-0.5")));
        assert_eq!(p("0x1.8p1"), p("3"));
        assert_eq!(p("0X.8"), p("0.5"));
        assert_eq!(p("1e3"), p("1000"));
        assert_eq!(p("1.E+3"), p("1000"));
        assert_eq!(p(".5e-0"), p("0.5"));
    }

    #[test]
    fn parse_refuses_what_string2ld_refuses() {
        for bad in [
            "",
            " 1",
            "\t1",
            "1 ",
            "+",
            "-",
            ".",
            "e5",
            "1e",
            "1e+",
            "1.2.3",
            "--1",
            "+-1",
            "0x",
            "0x.p1",
            "0x1p",
            "nan",
            "NaN",
            "-nan",
            "nan(1)",
            "infinit",
            "infx",
            "1e5000",
            "-1e5000",
            "1e-5000",
            "0x1p-20000",
            "0x1p20000",
            "1\0",
            "1,5",
            "١",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(parse(&[b'1'; 5120]), None);
        assert!(parse(&[b'1'; 5000]).is_none(), "1.1e4999 overflows");
        let mut long = vec![b'0'; 5118];
        long.push(b'1');
        assert_eq!(parse(&long), Some(p("1")));
        assert_eq!(p("inf"), LongDouble::Inf { neg: false });
        assert_eq!(p("-Infinity"), LongDouble::Inf { neg: true });
        assert_eq!(p("0e99999999999999999999"), LongDouble::ZERO);
        assert_eq!(p("-0"), LongDouble::zero(true));
    }

    #[test]
    fn parse_keeps_subnormals_and_the_extremes() {
        let min_sub = LongDouble::Finite {
            neg: false,
            mant: 1,
            exp: EXP_MIN as i32,
        };
        assert_eq!(p("0x1p-16445"), min_sub);
        assert_eq!(p("3.6451995318824746025e-4951"), min_sub);
        // Just above half the smallest subnormal rounds up to it, exactly half ties to zero.
        assert_eq!(p("1.9e-4951"), min_sub);
        assert_eq!(parse(b"0x1p-16446"), None);
        let max = LongDouble::Finite {
            neg: false,
            mant: u64::MAX,
            exp: EXP_MAX as i32,
        };
        assert_eq!(p("1.18973149535723176502e4932"), max);
        assert_eq!(parse(b"1.18973149535723176509e4932"), None);
    }

    #[test]
    fn add_rounds_once_to_nearest_even() {
        // 1 + 2^-64 is a tie between 1 and 1 + 2^-63: to even (1).
        assert_eq!(add(p("1"), p("0x1p-64")), p("1"));
        assert_eq!(
            add(p("1"), p("0x1.0000001p-64")),
            p("0x1.0000000000000002p0")
        );
        assert_eq!(
            add(p("0x1.0000000000000002p0"), p("0x1p-64")),
            p("0x1.0000000000000004p0")
        );
        // Far apart: the smaller one only breaks ties.
        assert_eq!(add(p("1e100"), p("1e-100")), p("1e100"));
        assert_eq!(add(p("-1"), p("0x1p-200")), p("-1"));
        // Cancellation is exact.
        assert_eq!(add(p("1.5"), p("-1.25")), p("0.25"));
        assert_eq!(add(p("0.1"), p("-0.1")), LongDouble::ZERO);
        assert_eq!(add(p("-0"), p("-0")), LongDouble::zero(true));
        assert_eq!(add(p("-0"), p("0")), LongDouble::ZERO);
        assert_eq!(add(p("inf"), p("-inf")), LongDouble::Nan);
        assert_eq!(
            add(p("1.1e4932"), p("1.1e4932")),
            LongDouble::Inf { neg: false }
        );
        // Subnormal sums.
        assert_eq!(add(p("0x1p-16445"), p("0x1p-16445")), p("0x1p-16444"));
    }

    #[test]
    fn format_is_percent_17_lf_trimmed() {
        let f = |s: &str| format_human(p(s));
        assert_eq!(f("0"), "0");
        assert_eq!(f("-0"), "0");
        assert_eq!(f("10.5"), "10.5");
        assert_eq!(f("0.1"), "0.1");
        assert_eq!(f("-3"), "-3");
        assert_eq!(f("1e40"), "9999999999999999999783686092270256259072");
        // 2^-18 = 0.000003814697265625: a tie at 17 decimals, to even.
        assert_eq!(f("0x1p-18"), "0.00000381469726562");
        assert_eq!(f("-1e-19"), "0");
        assert_eq!(f("-1e-17"), "-0.00000000000000001");
        // 5e-18 is stored a little below 5e-18 (redis-server prints "0"); 6e-18 rounds up.
        assert_eq!(f("5e-18"), "0");
        assert_eq!(f("6e-18"), "0.00000000000000001");
    }

    /// Replies of redis-server 7.0.15 (x86-64) to `SET f a`, `INCRBYFLOAT f b`.
    #[test]
    fn incr_by_float_matches_redis_examples() {
        assert_eq!(incr("10.50", "0.1").as_deref(), Ok("10.6"));
        assert_eq!(incr("5.0e3", "2.0e2").as_deref(), Ok("5200"));
        assert_eq!(incr("0.1", "0.2").as_deref(), Ok("0.3"));
        assert_eq!(
            incr("1e40", "0.1").as_deref(),
            Ok("9999999999999999999783686092270256259072")
        );
        assert_eq!(incr("0", "-0.0000000000000000001").as_deref(), Ok("0"));
        assert_eq!(incr("1", "inf"), Err(IncrError::NanOrInf));
        assert_eq!(incr("inf", "1"), Err(IncrError::NanOrInf));
        assert_eq!(incr("1", "nan"), Err(IncrError::NotFloat));
        assert_eq!(incr("abc", "1"), Err(IncrError::NotFloat));
        assert_eq!(incr_by_float(None, b"1.5").as_deref(), Ok("1.5"));
    }

    #[test]
    fn big_integers_print_and_divide_exactly() {
        let b = Big::from_decimal(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
        assert_eq!(b.to_decimal(), "12345678901234567890");
        let mut five = Big::from_u64(1);
        five.mul_pow5(30);
        assert_eq!(five.to_decimal(), "931322574615478515625");
        assert_eq!(
            Big::from_u64(1).shl(100).to_decimal(),
            "1267650600228229401496703205376"
        );
        let (q, rem) = Big::from_u64(1000)
            .shl(50)
            .div_small_quotient(&Big::from_u64(3));
        assert_eq!((q, rem), ((1000u128 << 50) / 3, true));
        let (q, rem) = Big::from_u64(1000)
            .shl(50)
            .div_small_quotient(&Big::from_u64(8));
        assert_eq!((q, rem), (1000u128 << 47, false));
    }
}
