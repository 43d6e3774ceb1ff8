//! QUERY_DIRECTORY patterns ([MS-FSA] 2.1.4.4): `*` and `?`, plus the DOS
//! forms `<` (DOS_STAR, as `*`), `>` (DOS_QM) and `"` (DOS_DOT), matched
//! case-insensitively.

/// Whether the pattern has no wildcard (an exact-name lookup).
pub fn is_exact(pattern: &str) -> bool {
    !pattern.contains(['*', '?', '<', '>', '"'])
}

pub fn matches(pattern: &str, name: &str) -> bool {
    if pattern.is_empty() || pattern == "*" {
        return true;
    }
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let n: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
    m(&p, &n)
}

fn m(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        // DOS_STAR is treated as `*` (close enough for "<.txt"-style
        // patterns; the exact rule stops at the last dot).
        Some('*') | Some('<') => (0..=n.len()).any(|i| m(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && m(&p[1..], &n[1..]),
        // DOS_QM: one character, or nothing at a dot or the end.
        Some('>') => (!n.is_empty() && m(&p[1..], &n[1..])) || m(&p[1..], n),
        // DOS_DOT: a dot, or nothing at the end.
        Some('"') => (n.first() == Some(&'.') && m(&p[1..], &n[1..])) || (n.is_empty() && m(&p[1..], n)),
        Some(c) => n.first() == Some(c) && m(&p[1..], &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_question_and_case() {
        assert!(matches("*", "anything"));
        assert!(matches("", "x"));
        assert!(matches("*.TXT", "a.txt"));
        assert!(!matches("*.txt", "a.doc"));
        assert!(matches("f?le", "FILE"));
        assert!(!matches("f?le", "fle"));
        assert!(matches("Exact", "exact"));
        assert!(!matches("exact", "exactly"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(matches("<.txt", "a.txt"));
        assert!(is_exact("name.txt"));
        assert!(!is_exact("n*"));
    }
}
