//! Parsing of human sizes such as `64MiB`, used by the CLI and configs.

/// Parses `123`, `4KiB`, `64MiB`, `1GiB`, `2TiB` (also `K`, `M`, `G`, `T`,
/// `KB`.. which are taken as powers of 1024 as well, as operators expect
/// from block tools). Returns a message naming the problem otherwise.
pub fn parse_size_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return Err(format!("size {text:?} does not start with a number"));
    }
    let n: u64 = digits.parse().map_err(|_| format!("size {text:?} is too large"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("size {text:?} has an unknown unit {other:?} (use KiB, MiB, GiB or TiB)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("size {text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn sizes() {
        assert_eq!(parse_size_bytes("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size_bytes("4096").unwrap(), 4096);
        assert_eq!(parse_size_bytes("1g").unwrap(), 1 << 30);
        assert!(parse_size_bytes("MiB").is_err());
        assert!(parse_size_bytes("5 parsecs").is_err());
        assert!(parse_size_bytes("99999999999999999999").is_err());
    }
}
