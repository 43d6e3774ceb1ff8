//! QUERY_DIRECTORY patterns ([MS-FSA] 2.1.4.4): `*` and `?`, plus the DOS
//! forms `<` (DOS_STAR, as `*`), `>` (DOS_QM) and `"` (DOS_DOT), matched
//! case-insensitively.

/// Whether the pattern has no wildcard (an exact-name lookup).
pub fn is_exact(pattern: &str) -> bool {
    !pattern.contains(['*', '?', '<', '>', '"'])
}

/// Whether `name` matches `pattern`, case-insensitively.
///
/// Dynamic programming over the pattern, one row of name prefixes at a
/// time: O(pattern × name) steps whatever the pattern. (A backtracking
/// matcher is exponential in the number of `*`: `*a*a*a…*c` against a
/// long run of `a`s never finished, on one of smbd's two workers.)
pub fn matches(pattern: &str, name: &str) -> bool {
    if pattern.is_empty() || pattern == "*" {
        return true;
    }
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let n: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
    // row[j]: the pattern so far matches the first j characters of the name.
    let mut row = vec![false; n.len() + 1];
    row[0] = true;
    let mut next = vec![false; n.len() + 1];
    for &c in &p {
        for j in 0..=n.len() {
            let prev = j > 0 && row[j - 1];
            next[j] = match c {
                // DOS_STAR is treated as `*` (close enough for "<.txt"-style
                // patterns; the exact rule stops at the last dot).
                '*' | '<' => row[j] || (j > 0 && next[j - 1]),
                '?' => prev,
                // DOS_QM: one character, or nothing.
                '>' => prev || row[j],
                // DOS_DOT: a dot, or nothing at the end.
                '"' => (prev && n[j - 1] == '.') || (j == n.len() && row[j]),
                c => prev && n[j - 1] == c,
            };
        }
        std::mem::swap(&mut row, &mut next);
    }
    row[n.len()]
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

    #[test]
    fn dos_wildcards() {
        assert!(matches("a>c", "abc") && matches("a>c", "ac") && !matches("a>c", "abbc"));
        assert!(matches("a\"txt", "a.txt") && !matches("a\"txt", "aXtxt"));
        assert!(matches("name\"", "name") && matches("name\"", "name."));
        assert!(matches("*\"*", "a.b"));
    }

    /// The pattern from the issue: many `*` against a long name that almost
    /// matches. Backtracking took exponential time; this returns at once.
    #[test]
    fn many_stars_against_a_long_near_match_ends() {
        let pattern = format!("{}c", "*a".repeat(40));
        let name = "a".repeat(255);
        assert!(!matches(&pattern, &name));
        assert!(matches(&pattern, &format!("{name}c")));
    }

    /// The backtracking definition the matcher must agree with.
    fn reference(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') | Some('<') => (0..=n.len()).any(|i| reference(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && reference(&p[1..], &n[1..]),
            Some('>') => (!n.is_empty() && reference(&p[1..], &n[1..])) || reference(&p[1..], n),
            Some('"') => (n.first() == Some(&'.') && reference(&p[1..], &n[1..])) || (n.is_empty() && reference(&p[1..], n)),
            Some(c) => n.first() == Some(c) && reference(&p[1..], &n[1..]),
        }
    }

    #[test]
    fn agrees_with_the_backtracking_definition() {
        // Every pattern of up to 4 symbols over a small alphabet against
        // every name of up to 4 characters: small enough for backtracking.
        let syms = ['*', '?', '<', '>', '"', 'a', '.', 'B'];
        let chars = ['a', 'b', '.'];
        let mut patterns = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = patterns.iter().flat_map(|p| syms.iter().map(move |s| format!("{p}{s}"))).collect();
            patterns.extend(longer.into_iter().filter(|p| p.chars().count() <= 4));
            patterns.sort();
            patterns.dedup();
        }
        let mut names = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = names.iter().flat_map(|n| chars.iter().map(move |c| format!("{n}{c}"))).collect();
            names.extend(longer.into_iter().filter(|n| n.chars().count() <= 4));
            names.sort();
            names.dedup();
        }
        let mut checked = 0;
        for p in patterns.iter().filter(|p| !p.is_empty() && p.as_str() != "*") {
            let pl: Vec<char> = p.chars().flat_map(char::to_lowercase).collect();
            for n in &names {
                let nl: Vec<char> = n.chars().flat_map(char::to_lowercase).collect();
                assert_eq!(matches(p, n), reference(&pl, &nl), "pattern {p:?} name {n:?}");
                checked += 1;
            }
        }
        assert!(checked > 100_000, "{checked}");
    }
}
