//! The x87 80-bit `long double` arithmetic of HINCRBYFLOAT (and INCRBYFLOAT), in software.
//!
//! Redis computes these increments in `long double` (64-bit mantissa on x86-64), parses with
//! glibc's `strtold` and prints with `"%.17Lf"` minus trailing zeros (`ld2string`'s
//! `LD_STR_HUMAN`). Doing the same in `f64` gives visibly different results (0.1 + 0.2 prints
//! `0.30000000000000004` in f64, `0.3` in Redis), so this module reproduces the three steps
//! exactly: correctly rounded parsing (decimal, hexadecimal, `inf`), correctly rounded addition,
//! and exact `%.17Lf` formatting with round-half-even, all with a small big-integer type.
//!
//! Determinism: pure integer arithmetic, the same on every replica and every CPU.
//!
//! Not here: NaN (Redis refuses it before any arithmetic), other operations.

use std::cmp::Ordering;

/// Lowest exponent of a mantissa bit: values are `mant * 2^exp`, `exp >= MIN_EXP`.
const MIN_EXP: i64 = -16445;
/// Highest exponent of the leading bit of a finite value.
const MAX_TOP_EXP: i64 = 16383;
/// Redis's `MAX_LONG_DOUBLE_CHARS`: longer strings are not numbers to Redis.
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// An 80-bit extended-precision value (NaN excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct F80 {
    neg: bool,
    /// `mant * 2^exp`; `mant` has bit 63 set unless `exp == MIN_EXP` (subnormal) or `mant` is
    /// zero. `exp == i64::MAX` means infinity.
    mant: u64,
    exp: i64,
}

impl F80 {
    pub const ZERO: F80 = F80 {
        neg: false,
        mant: 0,
        exp: MIN_EXP,
    };

    fn inf(neg: bool) -> F80 {
        F80 {
            neg,
            mant: 0,
            exp: i64::MAX,
        }
    }

    pub fn is_infinite(&self) -> bool {
        self.exp == i64::MAX
    }

    /// `n` exactly (every i64 fits a 64-bit mantissa).
    pub fn from_i64(n: i64) -> F80 {
        round(n < 0, Big::from_u64(n.unsigned_abs()), 0, false)
    }

    /// Redis's `string2ld`: the whole string must be a number `strtold` accepts, without
    /// leading space, not NaN, not out of range (overflow, or underflow to zero).
    pub fn parse(s: &[u8]) -> Option<F80> {
        if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS {
            return None;
        }
        // Redis copies into a C string: a NUL ends it there.
        let s = &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())];
        if s.first()
            .is_none_or(|b| b.is_ascii_whitespace() || *b == 0x0b)
        {
            return None;
        }
        let (neg, rest) = match s[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let lower: Vec<u8> = rest.iter().map(u8::to_ascii_lowercase).collect();
        if lower == b"inf" || lower == b"infinity" {
            return Some(F80::inf(neg));
        }
        if rest.len() > 2 && lower.starts_with(b"0x") {
            return parse_hex(neg, &rest[2..]);
        }
        parse_dec(neg, rest)
    }

    /// `self + other`, rounded to nearest even, as the x87 adds in extended precision.
    pub fn add(self, other: F80) -> F80 {
        if self.is_infinite() || other.is_infinite() {
            // inf + -inf is NaN: the caller refuses any non-finite result anyway.
            return if self.is_infinite() { self } else { other };
        }
        let e = self.exp.min(other.exp);
        let a = Big::from_u64(self.mant).shl((self.exp - e) as usize);
        let b = Big::from_u64(other.mant).shl((other.exp - e) as usize);
        if self.neg == other.neg {
            return round(self.neg, a.add(&b), e, false);
        }
        match a.cmp(&b) {
            Ordering::Equal => F80::ZERO,
            Ordering::Greater => round(self.neg, a.sub(&b), e, false),
            Ordering::Less => round(other.neg, b.sub(&a), e, false),
        }
    }

    /// C's `(long long) ceill(x * k)` on x86-64 for a `long double` x: the product rounded to
    /// extended precision, then rounded up to an integer; a result outside `long long` (or an
    /// infinity) gives the x87 "integer indefinite", `LLONG_MIN`. Redis 7.0's blocking timeouts
    /// are `(long long) ceill(seconds * 1000.0)` ms.
    pub fn mul_ceil(self, k: u64) -> i64 {
        if self.is_infinite() {
            return i64::MIN;
        }
        let p = round(
            self.neg,
            Big::from_u64(self.mant).mul_small(k),
            self.exp,
            false,
        );
        if p.is_infinite() {
            return i64::MIN;
        }
        // |p| = whole + a fraction (nonzero when `frac`).
        let (whole, frac): (u64, bool) = if p.exp >= 0 {
            if p.mant != 0 && (p.exp >= 64 || p.mant.leading_zeros() < p.exp as u32) {
                return i64::MIN;
            }
            (p.mant << p.exp, false)
        } else if p.exp <= -64 {
            (0, p.mant != 0)
        } else {
            let sh = (-p.exp) as u32;
            (p.mant >> sh, p.mant & ((1u64 << sh) - 1) != 0)
        };
        if p.neg {
            // Rounding up a negative value drops its fraction; -2^63 itself is LLONG_MIN.
            return i64::try_from(whole).map_or(i64::MIN, |w| -w);
        }
        let up = whole.saturating_add(u64::from(frac));
        i64::try_from(up).unwrap_or(i64::MIN)
    }

    /// Redis's `ld2string(..., LD_STR_HUMAN)`: `%.17Lf` without trailing zeros (nor a trailing
    /// point), `-0` written `0`. Infinities as `inf`/`-inf`.
    pub fn to_human(self) -> String {
        if self.is_infinite() {
            return if self.neg { "-inf" } else { "inf" }.to_string();
        }
        // x = round(value * 10^17), ties to even.
        let n = Big::from_u64(self.mant).mul_pow5(17);
        let x = if self.exp + 17 >= 0 {
            n.shl((self.exp + 17) as usize)
        } else {
            let drop = (-(self.exp + 17)) as usize;
            let q = n.shr(drop);
            let half = n.bit(drop - 1);
            let lower = n.any_below(drop - 1);
            if half && (lower || q.bit(0)) {
                q.add(&Big::from_u64(1))
            } else {
                q
            }
        };
        let mut digits = x.to_decimal();
        if digits.len() < 18 {
            digits = format!("{}{}", "0".repeat(18 - digits.len()), digits);
        }
        let (int, frac) = digits.split_at(digits.len() - 17);
        let frac = frac.trim_end_matches('0');
        let mut out = String::new();
        if self.neg {
            out.push('-');
        }
        out.push_str(int);
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        if out == "-0" {
            out = "0".to_string();
        }
        out
    }
}

/// `big * 2^e2` (plus something nonzero below it when `sticky`), rounded to an F80.
fn round(neg: bool, big: Big, e2: i64, sticky: bool) -> F80 {
    let n = big.bits() as i64;
    if n == 0 {
        return F80 { neg, ..F80::ZERO };
    }
    let drop = (n - 64).max(MIN_EXP - e2);
    let (mut mant, mut exp) = if drop <= 0 {
        (big.shl((-drop) as usize).low_u64(), e2 + drop)
    } else {
        let d = drop as usize;
        let q = big.shr(d);
        let half = big.bit(d - 1);
        let lower = sticky || big.any_below(d - 1);
        let mut m = q.low_u64();
        let mut e = e2 + drop;
        if half && (lower || m & 1 == 1) {
            m = m.wrapping_add(1);
            if m == 0 {
                // Carried out of 64 bits: 2^64 = 2^63 * 2.
                m = 1 << 63;
                e += 1;
            }
        }
        (m, e)
    };
    if mant == 0 {
        return F80 { neg, ..F80::ZERO };
    }
    if mant >> 63 == 0 && exp > MIN_EXP {
        // Normalize (only reachable from exact small values shifted above).
        let z = i64::from(mant.leading_zeros()).min(exp - MIN_EXP);
        mant <<= z;
        exp -= z;
    }
    if exp + 63 > MAX_TOP_EXP {
        return F80::inf(neg);
    }
    F80 { neg, mant, exp }
}

fn parse_dec(neg: bool, s: &[u8]) -> Option<F80> {
    let mut i = 0;
    let mut digits = Vec::new();
    let mut frac_digits: i64 = 0;
    let mut seen_digit = false;
    while i < s.len() && s[i].is_ascii_digit() {
        digits.push(s[i] - b'0');
        seen_digit = true;
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            digits.push(s[i] - b'0');
            frac_digits += 1;
            seen_digit = true;
            i += 1;
        }
    }
    if !seen_digit {
        return None;
    }
    let mut exp10: i64 = 0;
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        let mut j = i + 1;
        let eneg = match s.get(j) {
            Some(b'-') => {
                j += 1;
                true
            }
            Some(b'+') => {
                j += 1;
                false
            }
            _ => false,
        };
        let start = j;
        let mut e: i64 = 0;
        while j < s.len() && s[j].is_ascii_digit() {
            // Saturate: beyond a few thousand it is overflow or underflow anyway.
            e = (e * 10 + i64::from(s[j] - b'0')).min(1_000_000_000);
            j += 1;
        }
        if j == start {
            // "1e" or "1e+": strtold stops before the 'e', leaving characters: not a number.
            return None;
        }
        exp10 = if eneg { -e } else { e };
        i = j;
    }
    if i != s.len() {
        return None;
    }
    // Strip leading zeros; all zeros is an exact zero (no range error).
    let first = digits.iter().position(|&d| d != 0);
    let Some(first) = first else {
        return Some(F80 { neg, ..F80::ZERO });
    };
    let digits = &digits[first..];
    let e = exp10 - frac_digits;
    // The leading digit's decimal exponent decides the clear cases of range.
    let lead = e + digits.len() as i64 - 1;
    if lead > 4933 {
        return None;
    }
    if lead < -4952 {
        return None;
    }
    let mut d = Big::zero();
    for &x in digits {
        d = d.mul_small(10).add(&Big::from_u64(u64::from(x)));
    }
    let v = if e >= 0 {
        round(neg, d.mul_pow5(e as usize), e, false)
    } else {
        let k = (-e) as usize;
        let div = Big::from_u64(1).mul_pow5(k);
        let s = (div.bits() + 66).saturating_sub(d.bits());
        let (q, rem_nonzero) = d.shl(s).div_small_quotient(&div);
        round(neg, q, -(k as i64) - s as i64, rem_nonzero)
    };
    range_checked(v)
}

fn parse_hex(neg: bool, s: &[u8]) -> Option<F80> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut i = 0;
    let mut m = Big::zero();
    let mut seen = false;
    let mut exp2: i64 = 0;
    while i < s.len() && hex(s[i]).is_some() {
        m = m.mul_small(16).add(&Big::from_u64(u64::from(hex(s[i])?)));
        seen = true;
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && hex(s[i]).is_some() {
            m = m.mul_small(16).add(&Big::from_u64(u64::from(hex(s[i])?)));
            exp2 -= 4;
            seen = true;
            i += 1;
        }
    }
    if !seen {
        return None;
    }
    if i < s.len() && (s[i] == b'p' || s[i] == b'P') {
        let mut j = i + 1;
        let eneg = match s.get(j) {
            Some(b'-') => {
                j += 1;
                true
            }
            Some(b'+') => {
                j += 1;
                false
            }
            _ => false,
        };
        let start = j;
        let mut e: i64 = 0;
        while j < s.len() && s[j].is_ascii_digit() {
            e = (e * 10 + i64::from(s[j] - b'0')).min(1_000_000_000);
            j += 1;
        }
        if j == start {
            return None;
        }
        exp2 += if eneg { -e } else { e };
        i = j;
    }
    if i != s.len() {
        return None;
    }
    if m.bits() == 0 {
        return Some(F80 { neg, ..F80::ZERO });
    }
    let top = exp2 + m.bits() as i64 - 1;
    if top > MAX_TOP_EXP + 1 {
        return None;
    }
    if top < MIN_EXP - 2 {
        return None;
    }
    range_checked(round(neg, m, exp2, false))
}

/// `strtold`'s range errors as Redis treats them: overflow to infinity and underflow to zero
/// are not numbers.
fn range_checked(v: F80) -> Option<F80> {
    if v.is_infinite() || v.mant == 0 {
        return None;
    }
    Some(v)
}

/// A small unsigned big integer, little-endian 64-bit limbs, no leading zero limbs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big(Vec<u64>);

impl Big {
    fn zero() -> Big {
        Big(Vec::new())
    }

    fn from_u64(v: u64) -> Big {
        let mut b = Big(vec![v]);
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn bits(&self) -> usize {
        match self.0.last() {
            None => 0,
            Some(&top) => self.0.len() * 64 - top.leading_zeros() as usize,
        }
    }

    fn bit(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|l| (l >> (i % 64)) & 1 == 1)
    }

    /// Whether any bit below position `i` is set.
    fn any_below(&self, i: usize) -> bool {
        let (limbs, bits) = (i / 64, i % 64);
        self.0.iter().take(limbs.min(self.0.len())).any(|&l| l != 0)
            || (bits > 0
                && self
                    .0
                    .get(limbs)
                    .is_some_and(|l| l & ((1u64 << bits) - 1) != 0))
    }

    fn low_u64(&self) -> u64 {
        self.0.first().copied().unwrap_or(0)
    }

    fn shl(&self, n: usize) -> Big {
        if self.0.is_empty() {
            return Big::zero();
        }
        let (limbs, bits) = (n / 64, n % 64);
        let mut out = vec![0u64; limbs];
        out.reserve(self.0.len() + 1);
        let mut carry = 0u64;
        for &l in &self.0 {
            if bits == 0 {
                out.push(l);
            } else {
                out.push((l << bits) | carry);
                carry = l >> (64 - bits);
            }
        }
        if carry != 0 {
            out.push(carry);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn shr(&self, n: usize) -> Big {
        let (limbs, bits) = (n / 64, n % 64);
        if limbs >= self.0.len() {
            return Big::zero();
        }
        let src = &self.0[limbs..];
        let mut out = Vec::with_capacity(src.len());
        for (i, &l) in src.iter().enumerate() {
            let hi = src.get(i + 1).copied().unwrap_or(0);
            out.push(if bits == 0 {
                l
            } else {
                (l >> bits) | (hi << (64 - bits))
            });
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn add(&self, o: &Big) -> Big {
        let n = self.0.len().max(o.0.len());
        let mut out = Vec::with_capacity(n + 1);
        let mut carry = false;
        for i in 0..n {
            let a = self.0.get(i).copied().unwrap_or(0);
            let b = o.0.get(i).copied().unwrap_or(0);
            let (s1, c1) = a.overflowing_add(b);
            let (s2, c2) = s1.overflowing_add(u64::from(carry));
            out.push(s2);
            carry = c1 || c2;
        }
        if carry {
            out.push(1);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    /// `self - o`, `self >= o`.
    fn sub(&self, o: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = false;
        for i in 0..self.0.len() {
            let a = self.0[i];
            let b = o.0.get(i).copied().unwrap_or(0);
            let (d1, b1) = a.overflowing_sub(b);
            let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
            out.push(d2);
            borrow = b1 || b2;
        }
        debug_assert!(!borrow, "Big::sub underflow");
        let mut b = Big(out);
        b.trim();
        b
    }

    fn mul_small(&self, m: u64) -> Big {
        let mut out = Vec::with_capacity(self.0.len() + 1);
        let mut carry = 0u128;
        for &l in &self.0 {
            let p = u128::from(l) * u128::from(m) + carry;
            out.push(p as u64);
            carry = p >> 64;
        }
        if carry != 0 {
            out.push(carry as u64);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn mul_pow5(&self, mut k: usize) -> Big {
        // 5^27 is the largest power of 5 below 2^64.
        let mut b = self.clone();
        while k >= 27 {
            b = b.mul_small(7_450_580_596_923_828_125);
            k -= 27;
        }
        b.mul_small(5u64.pow(k as u32))
    }

    fn cmp(&self, o: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&o.0.len())
            .then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }

    /// `(self / d, self % d != 0)` for a quotient known to be short (a few limbs): binary long
    /// division over the quotient's bits only.
    fn div_small_quotient(&self, d: &Big) -> (Big, bool) {
        if self.cmp(d) == Ordering::Less {
            return (Big::zero(), self.bits() != 0);
        }
        let qbits = self.bits() - d.bits() + 1;
        let mut rem = self.clone();
        let mut q = Big::zero();
        for i in (0..qbits).rev() {
            let t = d.shl(i);
            if rem.cmp(&t) != Ordering::Less {
                rem = rem.sub(&t);
                q = q.add(&Big::from_u64(1).shl(i));
            }
        }
        let nonzero = rem.bits() != 0;
        (q, nonzero)
    }

    fn to_decimal(&self) -> String {
        if self.0.is_empty() {
            return "0".to_string();
        }
        const CHUNK: u64 = 10_000_000_000_000_000_000;
        let mut parts = Vec::new();
        let mut cur = self.0.clone();
        while !cur.is_empty() {
            let mut rem = 0u128;
            for l in cur.iter_mut().rev() {
                let v = (rem << 64) | u128::from(*l);
                *l = (v / u128::from(CHUNK)) as u64;
                rem = v % u128::from(CHUNK);
            }
            while cur.last() == Some(&0) {
                cur.pop();
            }
            parts.push(rem as u64);
        }
        let mut s = parts.pop().map(|p| p.to_string()).unwrap_or_default();
        for p in parts.iter().rev() {
            s.push_str(&format!("{p:019}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn human(s: &str) -> String {
        F80::parse(s.as_bytes()).unwrap().to_human()
    }

    fn incr(a: &str, b: &str) -> String {
        let a = F80::parse(a.as_bytes()).unwrap();
        let b = F80::parse(b.as_bytes()).unwrap();
        a.add(b).to_human()
    }

    /// Replies of redis-server 7.0.15 to HINCRBYFLOAT / INCRBYFLOAT (x86-64, glibc).
    #[test]
    fn increments_print_as_redis_long_doubles() {
        assert_eq!(incr("0.1", "0.2"), "0.3");
        assert_eq!(incr("10.50", "0.1"), "10.6");
        assert_eq!(incr("5.0e3", "2.0e2"), "5200");
        assert_eq!(incr("0", "3.0e3"), "3000");
        assert_eq!(incr("1", "-1"), "0");
        assert_eq!(incr("-1", "0.5"), "-0.5");
        assert_eq!(incr("0", "1e-20"), "0");
        assert_eq!(incr("0", "-1e-20"), "0");
        assert_eq!(incr("0", "1.5e-17"), "0.00000000000000002");
        assert_eq!(incr("17179869184", "1.5"), "17179869185.5");
        assert_eq!(incr("0", "3.14159265358979323846"), "3.14159265358979324");
        assert_eq!(incr("1e20", "1"), "100000000000000000000");
        assert_eq!(incr("0", "0x10"), "16");
        assert_eq!(incr("0", "1.1"), "1.1");
        assert_eq!(incr("1.1", "1.1"), "2.2");
        assert_eq!(incr("0", "9223372036854775807"), "9223372036854775807");
        assert_eq!(incr("9223372036854775807", "1"), "9223372036854775808");
    }

    #[test]
    fn mul_ceil_is_c_long_long_of_ceill_of_the_extended_product() {
        let t = |s: &str| F80::parse(s.as_bytes()).unwrap().mul_ceil(1000);
        assert_eq!(t("0.01"), 10);
        assert_eq!(t("1.5"), 1500);
        // 0.001 * 1000 is 0.99999999999999999995 in extended precision: rounded up, 1.
        assert_eq!(t("0.001"), 1);
        assert_eq!(t("0.0001"), 1);
        assert_eq!(t("-0.0001"), 0);
        assert_eq!(t("-1"), -1000);
        assert_eq!(t("-1.5"), -1500);
        assert_eq!(t("0x10"), 16000);
        assert_eq!(t("1.5e-3"), 2);
        assert_eq!(t("9.2e15"), 9_200_000_000_000_000_000);
        // Beyond long long: the x87 integer indefinite.
        assert_eq!(t("9.3e15"), i64::MIN);
        assert_eq!(t("1e20"), i64::MIN);
        assert_eq!(t("inf"), i64::MIN);
        assert_eq!(t("-inf"), i64::MIN);
        assert_eq!(F80::ZERO.mul_ceil(1000), 0);
    }

    #[test]
    fn parse_refuses_what_string2ld_refuses() {
        for bad in [
            "", " 1", "1 ", "abc", "1e", "1e+", ".", "-", "0x", "nan", "NaN", "1e5000", "-1e5000",
            "1e-5000", "1..2", "++1",
        ] {
            assert_eq!(F80::parse(bad.as_bytes()), None, "{bad:?}");
        }
        for good in [
            "1",
            "+1",
            "-1.",
            ".5",
            "1E3",
            "0x1p-2",
            "inf",
            "-Infinity",
            "0e-99999",
        ] {
            assert!(F80::parse(good.as_bytes()).is_some(), "{good:?}");
        }
        assert!(F80::parse(b"inf").unwrap().is_infinite());
        assert_eq!(human("0x1p-2"), "0.25");
        assert_eq!(human("1.5\0garbage"), "1.5");
        assert_eq!(F80::parse(&vec![b'1'; MAX_LONG_DOUBLE_CHARS]), None);
    }

    #[test]
    fn extremes_round_and_print() {
        // Largest finite long double and the smallest subnormal parse; beyond, range errors.
        assert!(F80::parse(b"1.18973149535723176502e4932").is_some());
        assert!(F80::parse(b"1.19e4932").is_none());
        assert!(F80::parse(b"3.7e-4951").is_some());
        assert!(F80::parse(b"1e-4952").is_none());
        assert_eq!(human("-0.0"), "0");
        assert_eq!(
            human("123456789012345678901234567890"),
            "123456789012345678899921813504"
        );
        assert_eq!(incr("0", "0.000000000000000015"), "0.00000000000000002");
        assert_eq!(incr("0", "0.000000000000000025"), "0.00000000000000002");
        assert_eq!(incr("0", "0.000000000000000005"), "0");
        assert_eq!(incr("0", "3.7e-4951"), "0");
        assert_eq!(
            incr("1e308", "1e308"),
            "199999999999999999993371759311691291321120199694831134415594095989843469737676123744\
             200253843777078640893494450108026446304269499187921167194841628860392837535918200039\
             206381557326219209014213335878306791577877829121087126122536729803237260434173178506\
             889763247582601711514636284849020905456510092687857156096"
        );
        assert!(human("1e4000")
            .starts_with("9999999999999999999965463873099623784932492583506957631301508333043"));
        assert_eq!(human("1e4000").len(), 4000);
        assert_eq!(F80::from_i64(i64::MIN).to_human(), "-9223372036854775808");
    }
}
