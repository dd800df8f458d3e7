//! Glob-style pattern matching with Redis's rules (`stringmatchlen` in util.c), used by
//! CONFIG GET, KEYS, SCAN MATCH and PSUBSCRIBE.
//!
//! `*` any run, `?` one byte, `[abc]`, `[^abc]`, `[a-z]` classes, `\x` a literal `x`. Works on
//! bytes (keys are binary). Matching is iterative over the pattern with backtracking on `*`
//! only to the last star, so a hostile pattern cannot blow up (Redis 7 guards the same
//! quadratic case with a nesting limit).

/// Does `s` match `pattern`? `nocase` folds ASCII case.
pub fn matches(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut i) = (0usize, 0usize);
    // Where to resume after the last `*`: (pattern index after the star, string index).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    star = Some((p, i));
                    continue;
                }
                b'?' if i < s.len() => {
                    p += 1;
                    i += 1;
                    continue;
                }
                b'[' if i < s.len() => {
                    let (matched, next) = class(pattern, p, s[i], nocase);
                    if matched {
                        p = next;
                        i += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pattern.len() && i < s.len() && eq(pattern[p + 1], s[i]) => {
                    p += 2;
                    i += 1;
                    continue;
                }
                b'\\' if p + 1 < pattern.len() => {}
                c if i < s.len() && c != b'?' && c != b'[' && eq(c, s[i]) => {
                    p += 1;
                    i += 1;
                    continue;
                }
                _ => {}
            }
        } else if i == s.len() {
            return true;
        }
        // Mismatch: let the last star swallow one more byte, or fail.
        match star {
            Some((sp, si)) if si < s.len() => {
                star = Some((sp, si + 1));
                p = sp;
                i = si + 1;
            }
            _ => return false,
        }
    }
}

/// Matches byte `c` against the class starting at `pattern[start] == '['`. Returns whether it
/// matched and the pattern index after the class.
fn class(pattern: &[u8], start: usize, c: u8, nocase: bool) -> (bool, usize) {
    let fold = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
    let c = fold(c);
    let mut p = start + 1;
    let not = pattern.get(p) == Some(&b'^');
    if not {
        p += 1;
    }
    let mut matched = false;
    loop {
        match pattern.get(p) {
            // An unterminated class ends at the pattern's end, as in Redis.
            None => {
                p -= 1;
                break;
            }
            Some(b']') => break,
            Some(b'\\') if p + 1 < pattern.len() => {
                p += 1;
                if fold(pattern[p]) == c {
                    matched = true;
                }
            }
            Some(&lo) if pattern.get(p + 1) == Some(&b'-') && p + 2 < pattern.len() => {
                let hi = pattern[p + 2];
                let (lo, hi) = if lo > hi { (hi, lo) } else { (lo, hi) };
                let (lo, hi) = (fold(lo), fold(hi));
                if c >= lo && c <= hi {
                    matched = true;
                }
                p += 2;
            }
            Some(&b) => {
                if fold(b) == c {
                    matched = true;
                }
            }
        }
        p += 1;
    }
    (matched != not, p + 1)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn redis_glob_cases() {
        let yes: &[(&str, &str)] = &[
            ("*", ""),
            ("*", "anything"),
            ("h?llo", "hello"),
            ("h*llo", "heeeello"),
            ("h*llo", "hllo"),
            ("h[ae]llo", "hallo"),
            ("h[^e]llo", "hallo"),
            ("h[a-b]llo", "hbllo"),
            ("h[b-a]llo", "hallo"),
            ("h\\*llo", "h*llo"),
            ("maxmemory*", "maxmemory-policy"),
            ("*a*b*c*", "xxaxxbxxcxx"),
        ];
        for (p, s) in yes {
            assert!(
                matches(p.as_bytes(), s.as_bytes(), false),
                "{p} should match {s}"
            );
        }
        let no: &[(&str, &str)] = &[
            ("h?llo", "hllo"),
            ("h[ae]llo", "hillo"),
            ("h[^e]llo", "hello"),
            ("h\\*llo", "hello"),
            ("a*b", "aXc"),
            ("?", ""),
            ("abc", "abcd"),
        ];
        for (p, s) in no {
            assert!(
                !matches(p.as_bytes(), s.as_bytes(), false),
                "{p} should not match {s}"
            );
        }
    }

    #[test]
    fn nocase_folds_ascii() {
        assert!(matches(b"MAXMEM*", b"maxmemory", true));
        assert!(matches(b"[A-C]x", b"bx", true));
        assert!(!matches(b"MAXMEM*", b"maxmemory", false));
    }

    #[test]
    fn many_stars_do_not_explode() {
        let p = "a*".repeat(30) + "b";
        let s = "a".repeat(100);
        assert!(!matches(p.as_bytes(), s.as_bytes(), false));
    }
}
