//! Redis's glob-style pattern matching (`stringmatchlen` in src/util.c), for KEYS, SCAN MATCH
//! and COMMAND LIST FILTERBY PATTERN.
//!
//! `*` any sequence, `?` any byte, `[abc]` `[^abc]` `[a-z]` a class, `\x` the byte x. Quirks kept
//! from Redis: a range may be written backwards (`[z-a]`), an unterminated class runs to the end
//! of the pattern, a trailing `\` matches itself. Unlike Redis's recursive matcher this one
//! backtracks only to the last `*` (same answers), so a hostile pattern can cost time
//! proportional to pattern x subject, but never stack depth.

/// The byte at `i`, or 0 past the end (Redis reads the string's NUL terminator there).
#[inline]
fn at(p: &[u8], i: usize) -> u8 {
    p.get(i).copied().unwrap_or(0)
}

#[inline]
fn fold(c: u8, nocase: bool) -> u8 {
    if nocase {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

/// Match the single pattern element at `pat[p]` (not `*`) against the byte `c`. Returns
/// whether it matched and where the next element starts.
fn element(pat: &[u8], mut p: usize, c: u8, nocase: bool) -> (bool, usize) {
    match pat[p] {
        b'?' => (true, p + 1),
        b'[' => {
            p += 1;
            let not = at(pat, p) == b'^';
            if not {
                p += 1;
            }
            let mut matched = false;
            loop {
                let left = pat.len().saturating_sub(p);
                if at(pat, p) == b'\\' && left >= 2 {
                    p += 1;
                    if pat[p] == c {
                        matched = true;
                    }
                } else if at(pat, p) == b']' {
                    break;
                } else if left == 0 {
                    // Unterminated class: it ends with the pattern.
                    p -= 1;
                    break;
                } else if left >= 3 && pat[p + 1] == b'-' {
                    let (mut start, mut end) = (pat[p], pat[p + 2]);
                    if start > end {
                        std::mem::swap(&mut start, &mut end);
                    }
                    let (start, end, c) = (fold(start, nocase), fold(end, nocase), fold(c, nocase));
                    p += 2;
                    if c >= start && c <= end {
                        matched = true;
                    }
                } else if fold(pat[p], nocase) == fold(c, nocase) {
                    matched = true;
                }
                p += 1;
            }
            (matched != not, p + 1)
        }
        b'\\' if pat.len() - p >= 2 => (fold(pat[p + 1], nocase) == fold(c, nocase), p + 2),
        lit => (fold(lit, nocase) == fold(c, nocase), p + 1),
    }
}

/// Whether `subject` matches `pattern`.
pub fn glob_match(pattern: &[u8], subject: &[u8], nocase: bool) -> bool {
    // Redis's matcher never enters its loop for an empty subject: only an empty pattern
    // matches it, not even "*" (KEYS and SCAN skip matching for "*" before they get here).
    if subject.is_empty() {
        return pattern.is_empty();
    }
    let (mut p, mut s) = (0usize, 0usize);
    // After the last `*` seen: where the rest of the pattern starts, and the subject position
    // it was last tried from.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() && pattern[p] == b'*' {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            star = Some((p, s));
            continue;
        }
        if s == subject.len() {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            return p == pattern.len();
        }
        if p < pattern.len() {
            let (ok, next) = element(pattern, p, subject[s], nocase);
            if ok {
                p = next;
                s += 1;
                continue;
            }
        }
        match star {
            Some((sp, ss)) => {
                star = Some((sp, ss + 1));
                p = sp;
                s = ss + 1;
            }
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }

    #[test]
    fn star_and_question_mark() {
        assert!(
            !m("*", ""),
            "Redis matches an empty subject only with an empty pattern"
        );
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("*a*b*c*", "xaxbxcx"));
        assert!(!m("*a*b*c*", "xaxcxbx"));
        assert!(m("a**b", "ab"));
        assert!(!m("", "a"));
        assert!(m("", ""));
        assert!(!m("a", ""));
        assert!(m("a*", "a"));
        assert!(!m("*a", "b"));
    }

    #[test]
    fn classes_ranges_and_negation() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"), "backward ranges are accepted");
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("[\\]]", "]"));
        assert!(m("[abc", "c"), "an unterminated class runs to the end");
        assert!(!m("[abc", "cd"));
    }

    #[test]
    fn escapes_and_case() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("a\\", "a\\"), "a trailing backslash matches itself");
        assert!(glob_match(b"GET*", b"getex", true));
        assert!(!glob_match(b"GET*", b"getex", false));
        assert!(glob_match(b"[A-C]x", b"bx", true));
    }

    #[test]
    fn pathological_pattern_finishes() {
        let pattern = "*a".repeat(50) + "b";
        let subject = "a".repeat(200);
        assert!(!m(&pattern, &subject));
    }
}

#[cfg(test)]
mod raftis_cases {
    use super::glob_match as matches;

    #[test]
    fn redis_glob_cases() {
        let yes: &[(&str, &str)] = &[
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
