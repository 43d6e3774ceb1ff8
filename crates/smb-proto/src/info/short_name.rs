//! 8.3 short names ([MS-FSCC] 2.1.5.2.1): what BothDirectory and
//! IdBothDirectory listings carry and FileAlternateNameInformation
//! answers. Holdfast stores none; the short name is derived from the long
//! name every time, the same way in every place, so the two always agree:
//! - a long name that is already a valid 8.3 name stands for itself,
//!   upper-cased;
//! - any other gets up to four valid characters of its stem, `~`, three
//!   characters of a hash of the whole name, and up to three valid
//!   characters of its last extension, upper-cased (`TORT~K3Q.TXT`).
//!
//! Two long names in one directory can hash alike; Windows would then
//! number them apart. Nothing opens a file by its short name here (a path
//! is always the long name), so a clash only shows the same short name
//! twice in a listing.

/// Characters an 8.3 name may hold besides letters and digits.
const SPECIAL: &str = "!#$%&'()-@^_`{}~";
/// Hash characters in a generated name.
const HASH_CHARS: usize = 3;
/// Stem characters kept in a generated name (8 minus `~` and the hash).
const STEM_CHARS: usize = 8 - 1 - HASH_CHARS;
const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn valid_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || SPECIAL.contains(c)
}

/// A valid 8.3 name: a stem of 1 to 8 valid characters, then optionally a
/// dot and 1 to 3 more.
pub fn is_8_3(name: &str) -> bool {
    let (stem, ext) = match name.split_once('.') {
        Some((s, e)) => (s, Some(e)),
        None => (name, None),
    };
    let ok = |s: &str, max: usize| !s.is_empty() && s.len() <= max && s.chars().all(valid_char);
    ok(stem, 8) && ext.is_none_or(|e| ok(e, 3))
}

/// The short name of `name`; empty for `.` and `..`, which have none.
pub fn short_name(name: &str) -> String {
    if name == "." || name == ".." || name.is_empty() {
        return String::new();
    }
    if is_8_3(name) {
        return name.to_ascii_uppercase();
    }
    let keep = |s: &str, n: usize| s.chars().filter(|c| valid_char(*c)).take(n).collect::<String>().to_ascii_uppercase();
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s, e),
        _ => (name, ""),
    };
    // FNV-1a over the upper-cased name: stable across hosts and restarts,
    // and the same for names that differ only in case (one file on a
    // case-insensitive share).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.to_uppercase().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut out = keep(stem, STEM_CHARS);
    out.push('~');
    for _ in 0..HASH_CHARS {
        out.push(ALPHABET[(h % 36) as usize] as char);
        h /= 36;
    }
    let ext = keep(ext, 3);
    if !ext.is_empty() {
        out.push('.');
        out.push_str(&ext);
    }
    debug_assert!(is_8_3(&out), "generated short name {out:?} is not 8.3");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_stand_for_themselves() {
        assert_eq!(short_name("readme.txt"), "README.TXT");
        assert_eq!(short_name("A"), "A");
        assert_eq!(short_name("."), "");
        assert_eq!(short_name(".."), "");
    }

    #[test]
    fn long_names_are_mangled_to_8_3_and_stable() {
        for n in ["torture_search.txt", "a b c.doc", "Ünïcode name.jpeg", ".hidden", "x.tar.gz", "verylongname", "t000-0.txt.2"] {
            let s = short_name(n);
            assert!(is_8_3(&s), "{n:?} -> {s:?}");
            assert_eq!(s, short_name(n), "not stable");
            assert_eq!(s, short_name(&n.to_uppercase()), "case changes the short name of {n:?}");
        }
        assert!(short_name("torture_search.txt").starts_with("TORT~"));
        assert!(short_name("torture_search.txt").ends_with(".TXT"));
        assert_ne!(short_name("report-2024-a.txt"), short_name("report-2024-b.txt"));
    }

    #[test]
    fn not_8_3() {
        for n in ["", "toolongstem.txt", "a.long", "two.dots.x", "sp ace.txt", "a.", ".a"] {
            assert!(!is_8_3(n), "{n:?}");
        }
    }
}
