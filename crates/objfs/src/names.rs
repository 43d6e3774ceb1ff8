//! Names and paths as SMB clients use them: UTF-8 (converted from UTF-16 by
//! the SMB service), compared case-insensitively with the case preserved.
//! Every path a client sends passes [`split_path`] before it reaches the
//! namespace, so nothing can name a place outside the share.

/// Longest name of one directory entry, in UTF-16 code units (as NTFS).
pub const NAME_UTF16_MAX: usize = 255;
/// Longest path below a share root, in bytes of UTF-8.
pub const PATH_BYTES_MAX: usize = 4096;
/// Most components in one path.
pub const PATH_DEPTH_MAX: usize = 128;
/// The root entry where the share's handle table is mounted. Clients can
/// neither see it in a listing nor open it.
pub const RESERVED_NAME: &str = ".holdfast-handles";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty name")]
    Empty,
    #[error("name {0:?} is longer than {NAME_UTF16_MAX} UTF-16 code units")]
    NameTooLong(String),
    #[error("path of {0} bytes is longer than {PATH_BYTES_MAX}")]
    PathTooLong(usize),
    #[error("path has more than {PATH_DEPTH_MAX} components")]
    TooDeep,
    #[error("name {0:?} contains a NUL, control or reserved character ({1:?})")]
    BadChar(String, char),
    #[error("name {0:?} is not allowed (`.` and `..` never name a file)")]
    DotName(String),
    #[error("absolute path {0:?}: paths are relative to the share root")]
    Absolute(String),
    #[error("{0:?} is reserved for the share's handle table")]
    Reserved(String),
    #[error("stream type {0:?} is not $DATA (the only stream type a file holds)")]
    StreamType(String),
}

/// What starts a stream's name inside objfs: `:` can never begin an entry
/// name (`validate_name` refuses it), so a stream inode's stored name
/// `:name` tells it apart with no new field (see "Streams" in
/// `docs/objfs.md`).
pub const STREAM_MARK: char = ':';

/// Checks a stream's name without its mark: as an entry name, except that
/// the reserved characters other than separators and `:` are allowed, as
/// NTFS allows them.
pub fn validate_stream_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.encode_utf16().count() > NAME_UTF16_MAX {
        return Err(NameError::NameTooLong(name.chars().take(32).collect()));
    }
    if let Some(c) = name.chars().find(|&c| c == '\0' || matches!(c, '/' | '\\' | ':')) {
        return Err(NameError::BadChar(name.to_string(), c));
    }
    Ok(())
}

/// Whether an objfs name is a stream's (`:name`).
pub fn is_stream(name: &str) -> bool {
    name.starts_with(STREAM_MARK)
}

/// The stream where the file server keeps a file's extended attributes.
/// Its stored name starts with two marks, which no client's stream name
/// can (`validate_stream_name` refuses `:`), so no client opens it and
/// stream listings leave it out (`is_internal_stream`).
pub const EA_STREAM: &str = "::$EA";

/// The stream where the file server keeps a file's own security
/// descriptor (only one set explicitly; others inherit theirs).
pub const SD_STREAM: &str = "::$SD";

/// Whether a stored name is one of objfs' own streams (never listed).
pub fn is_internal_stream(name: &str) -> bool {
    name == EA_STREAM || name == SD_STREAM
}

/// Checks a name as objfs stores it: an entry name, `:` and a stream name,
/// or an internal stream's name.
pub fn validate_stored_name(name: &str) -> Result<(), NameError> {
    if is_internal_stream(name) {
        return Ok(());
    }
    match name.strip_prefix(STREAM_MARK) {
        Some(stream) => validate_stream_name(stream),
        None => validate_name(name),
    }
}

/// Splits a path whose last component may name a stream: `file:stream`,
/// `file:stream:$DATA`, or `file::$DATA` (the file's own data, so no
/// stream). Returns the names and the stream's stored name (`:stream`,
/// case kept). Only the `$DATA` type exists.
pub fn split_stream_path(path: &str) -> Result<(Vec<&str>, Option<String>), NameError> {
    let start = path.rfind(['\\', '/']).map_or(0, |i| i + 1);
    let (file_path, stream) = match path[start..].find(STREAM_MARK) {
        Some(at) => (&path[..start + at], Some(&path[start + at + 1..])),
        None => (path, None),
    };
    let names = split_path(file_path)?;
    let Some(spec) = stream else { return Ok((names, None)) };
    if names.is_empty() {
        // The share root holds no streams.
        return Err(NameError::Empty);
    }
    let (name, kind) = match spec.split_once(STREAM_MARK) {
        Some((n, k)) => (n, Some(k)),
        None => (spec, None),
    };
    if let Some(k) = kind {
        if !k.eq_ignore_ascii_case("$DATA") {
            return Err(NameError::StreamType(k.chars().take(32).collect()));
        }
    }
    if name.is_empty() {
        // `file:` alone names nothing; `file::$DATA` is the file itself.
        return if kind.is_some() { Ok((names, None)) } else { Err(NameError::Empty) };
    }
    validate_stream_name(name)?;
    Ok((names, Some(format!("{STREAM_MARK}{name}"))))
}

/// Checks one directory entry name.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.encode_utf16().count() > NAME_UTF16_MAX {
        return Err(NameError::NameTooLong(name.chars().take(32).collect()));
    }
    if name == "." || name == ".." {
        return Err(NameError::DotName(name.to_string()));
    }
    if let Some(c) = name.chars().find(|&c| (c as u32) < 0x20 || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')) {
        return Err(NameError::BadChar(name.to_string(), c));
    }
    Ok(())
}

/// Splits a share-relative path (`\` or `/` separated) into checked names.
/// The empty path is the share root. A leading separator, `.`/`..`, empty
/// components (`a\\b`), and the reserved handle-table name are refused.
pub fn split_path(path: &str) -> Result<Vec<&str>, NameError> {
    if path.len() > PATH_BYTES_MAX {
        return Err(NameError::PathTooLong(path.len()));
    }
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let b = path.as_bytes();
    let drive = b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b.len() == 2 || matches!(b[2], b'/' | b'\\'));
    if path.starts_with(['/', '\\']) || drive {
        return Err(NameError::Absolute(path.chars().take(64).collect()));
    }
    // One trailing separator is tolerated ("dir\"), as Windows does.
    let trimmed = path.strip_suffix(['/', '\\']).unwrap_or(path);
    let mut out = Vec::new();
    for part in trimmed.split(['/', '\\']) {
        validate_name(part)?;
        if out.len() == PATH_DEPTH_MAX {
            return Err(NameError::TooDeep);
        }
        out.push(part);
    }
    if out.first().is_some_and(|n| fold(n) == fold(RESERVED_NAME)) {
        return Err(NameError::Reserved(RESERVED_NAME.to_string()));
    }
    Ok(out)
}

/// The case-folded key of a name: each character upper-cased when its upper
/// case is a single character (as the NTFS upcase table, which maps code unit
/// to code unit), otherwise kept. Two names are the same entry when their
/// keys are equal.
pub fn fold(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let mut up = c.to_uppercase();
        match (up.next(), up.next()) {
            (Some(u), None) => out.push(u),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bad_names_are_refused() {
        for bad in ["..", "a\\..\\b", "../etc/passwd", "\\abs", "/abs", "C:\\x", "a\\\\b", "a\0b", "a:stream", ".", "a/./b"] {
            assert!(split_path(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(matches!(split_path(".HOLDFAST-handles"), Err(NameError::Reserved(_))));
        assert!(split_path(".holdfast-handles\\x").is_err());
        let long = "x".repeat(NAME_UTF16_MAX + 1);
        assert!(matches!(split_path(&long), Err(NameError::NameTooLong(_))));
        let deep = vec!["d"; PATH_DEPTH_MAX + 1].join("\\");
        assert_eq!(split_path(&deep), Err(NameError::TooDeep));
        let huge = "d\\".repeat(PATH_BYTES_MAX);
        assert!(matches!(split_path(&huge), Err(NameError::PathTooLong(_))));
    }

    #[test]
    fn good_paths_split() {
        assert_eq!(split_path("").unwrap(), Vec::<&str>::new());
        assert_eq!(split_path("a\\b/c").unwrap(), vec!["a", "b", "c"]);
        assert_eq!(split_path("dir\\").unwrap(), vec!["dir"]);
        assert_eq!(split_path("sub\\.holdfast-handles").unwrap(), vec!["sub", ".holdfast-handles"]);
        assert!(split_path(&"é".repeat(NAME_UTF16_MAX)).is_ok());
    }

    #[test]
    fn stream_paths_split() {
        assert_eq!(split_stream_path("d\\f:S one:$DATA").unwrap(), (vec!["d", "f"], Some(":S one".to_string())));
        assert_eq!(split_stream_path("f:s").unwrap(), (vec!["f"], Some(":s".to_string())));
        assert_eq!(split_stream_path("f::$dAtA").unwrap(), (vec!["f"], None));
        assert_eq!(split_stream_path("d\\f").unwrap(), (vec!["d", "f"], None));
        for bad in ["f:", "f:s:$INDEX_ALLOCATION", "f:s:x:$DATA", "a:b\\c", "..\\f:s", ":s", "f:a\0b"] {
            assert!(split_stream_path(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(validate_stored_name(":x").is_ok() && validate_stored_name("x").is_ok());
        assert!(validate_stored_name(":").is_err() && validate_stored_name("a:b").is_err());
        assert!(validate_stored_name(EA_STREAM).is_ok() && validate_stored_name("::x").is_err());
        assert!(split_stream_path("f:$EA").unwrap().1.as_deref() != Some(EA_STREAM), "no client names the EA stream");
    }

    #[test]
    fn folding_is_case_insensitive() {
        assert_eq!(fold("Straße.TXT"), fold("STRAßE.txt"));
        assert_eq!(fold("Ärger"), fold("ärger"));
        assert_ne!(fold("a"), fold("b"));
    }
}
