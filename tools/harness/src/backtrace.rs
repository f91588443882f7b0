//! Finds code addresses in kernel backtrace lines and appends symbols to them.
//!
//! Recognised tokens (byte-oriented, so non-UTF-8 lines work too):
//! * `bt#N 0xADDR` anywhere in a line (N decimal, ADDR up to 16 hex digits);
//! * `rip=0xADDR` in lines starting with `KERNEL PANIC` or `kernel exception`.
//!
//! Each resolved address gets ` <symbol+0xOFF>` inserted right after it.

/// An address found in a line; `end` is the byte index just past its last
/// hex digit, where the symbol is inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrToken {
    pub end: usize,
    pub addr: u64,
}

/// Line prefixes after which `rip=0x...` is treated as a code address.
const RIP_LINE_PREFIXES: [&[u8]; 2] = [b"KERNEL PANIC", b"kernel exception"];

/// All address tokens in `line`, in order.
pub fn address_tokens(line: &[u8]) -> Vec<AddrToken> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(pos) = find(&line[i..], b"bt#") {
        let start = i + pos + 3;
        let digits = count_while(&line[start..], |b| b.is_ascii_digit());
        i = start;
        if digits == 0 {
            continue;
        }
        let after = start + digits;
        if line.get(after) == Some(&b' ')
            && let Some(tok) = hex_at(line, after + 1)
        {
            i = tok.end;
            tokens.push(tok);
        }
    }
    let trimmed = line.trim_ascii_start();
    if RIP_LINE_PREFIXES.iter().any(|p| trimmed.starts_with(p)) {
        let mut i = 0;
        while let Some(pos) = find(&line[i..], b"rip=") {
            let start = i + pos + 4;
            i = start;
            if let Some(tok) = hex_at(line, start) {
                i = tok.end;
                tokens.push(tok);
            }
        }
        tokens.sort_by_key(|t| t.end);
    }
    tokens
}

/// Returns `line[skip..]` with ` <symbol>` inserted after every address token
/// that `resolve` knows. Tokens ending before `skip` (already written out by a
/// caller that flushed a partial line) are ignored.
pub fn annotate_from(line: &[u8], skip: usize, resolve: impl Fn(u64) -> Option<String>) -> Vec<u8> {
    let mut copied = skip.min(line.len());
    let mut out = Vec::with_capacity(line.len() - copied + 64);
    for tok in address_tokens(line) {
        if tok.end < skip {
            continue;
        }
        if let Some(sym) = resolve(tok.addr) {
            out.extend_from_slice(&line[copied..tok.end]);
            out.extend_from_slice(format!(" <{sym}>").as_bytes());
            copied = tok.end;
        }
    }
    out.extend_from_slice(&line[copied..]);
    out
}

/// Convenience form of [`annotate_from`] for a whole UTF-8 line.
pub fn annotate(line: &str, resolve: impl Fn(u64) -> Option<String>) -> String {
    let bytes = annotate_from(line.as_bytes(), 0, resolve);
    // Only ASCII-bounded insertions of UTF-8 text were made, so this is lossless.
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Parses `0x` followed by 1..=16 hex digits at `start`; the digits must not
/// be followed by another alphanumeric character.
fn hex_at(line: &[u8], start: usize) -> Option<AddrToken> {
    let rest = line.get(start..)?.strip_prefix(b"0x")?;
    let digits = count_while(rest, |b| b.is_ascii_hexdigit());
    if digits == 0 || digits > 16 {
        return None;
    }
    if rest
        .get(digits)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        return None;
    }
    let text = std::str::from_utf8(&rest[..digits]).ok()?;
    let addr = u64::from_str_radix(text, 16).ok()?;
    Some(AddrToken {
        end: start + 2 + digits,
        addr,
    })
}

fn count_while(bytes: &[u8], pred: impl Fn(u8) -> bool) -> usize {
    bytes.iter().take_while(|b| pred(**b)).count()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(addr: u64) -> Option<String> {
        (addr >= 0x1000).then(|| format!("f+{:#x}", addr - 0x1000))
    }

    #[test]
    fn finds_backtrace_frame() {
        let line = b"  bt#0 0xffffffff80112345";
        assert_eq!(
            address_tokens(line),
            vec![AddrToken {
                end: line.len(),
                addr: 0xffff_ffff_8011_2345
            }]
        );
    }

    #[test]
    fn annotates_frame_with_trailing_text() {
        assert_eq!(
            annotate("bt#12 0x0000000000001010 (return)", fake),
            "bt#12 0x0000000000001010 <f+0x10> (return)"
        );
    }

    #[test]
    fn annotates_rip_only_on_panic_and_exception_lines() {
        assert_eq!(
            annotate("KERNEL PANIC at x.rs:1 rip=0x0000000000001004", fake),
            "KERNEL PANIC at x.rs:1 rip=0x0000000000001004 <f+0x4>"
        );
        assert_eq!(
            annotate("kernel exception #PF rip=0x1008 cr2=0x0", fake),
            "kernel exception #PF rip=0x1008 <f+0x8> cr2=0x0"
        );
        let plain = "user fault rip=0x0000000000001004";
        assert_eq!(annotate(plain, fake), plain);
    }

    #[test]
    fn multiple_tokens_are_annotated_in_order() {
        assert_eq!(
            annotate("KERNEL PANIC rip=0x1001 bt#0 0x1002", fake),
            "KERNEL PANIC rip=0x1001 <f+0x1> bt#0 0x1002 <f+0x2>"
        );
    }

    #[test]
    fn rejects_malformed_tokens() {
        for line in [
            "bt# 0x1000",
            "bt#0 0x",
            "bt#0  0x1000",
            "bt#0 1000",
            "bt#0 0x1000zz",
            "bt#0 0x00000000000010000",
            "test bt ... ok",
        ] {
            assert_eq!(address_tokens(line.as_bytes()), vec![], "{line}");
        }
    }

    #[test]
    fn unresolved_addresses_are_left_alone() {
        let line = "  bt#1 0x0000000000000010";
        assert_eq!(annotate(line, fake), line);
    }

    #[test]
    fn skip_drops_prefix_and_keeps_later_insertions() {
        let line = b"bt#0 0x1001 bt#1 0x1002";
        assert_eq!(annotate_from(line, 12, fake), b"bt#1 0x1002 <f+0x2>".to_vec());
        // A token ending exactly at the flush point is still annotated.
        assert_eq!(annotate_from(line, 11, fake), b" <f+0x1> bt#1 0x1002 <f+0x2>".to_vec());
        assert_eq!(annotate_from(line, 99, fake), Vec::<u8>::new());
    }

    #[test]
    fn non_utf8_bytes_pass_through() {
        let line = b"\xff\xfe bt#0 0x1003 \xff";
        assert_eq!(
            annotate_from(line, 0, fake),
            b"\xff\xfe bt#0 0x1003 <f+0x3> \xff".to_vec()
        );
    }
}
