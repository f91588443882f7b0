//! Kernel and module command-line parsing.
//!
//! This module owns the command-line syntax: whitespace-separated words, each either
//! `key=value` (split at the first `=`, so the value may itself contain `=`) or a
//! bare word. There is no quoting.

/// One word of a command line. A bare word has `value == None`; `key=` has
/// `value == Some("")`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Word<'a> {
    pub key: &'a str,
    pub value: Option<&'a str>,
}

/// The words of `cmdline`, in order.
pub fn words(cmdline: &str) -> impl Iterator<Item = Word<'_>> {
    cmdline.split_whitespace().map(|w| match w.split_once('=') {
        Some((key, value)) => Word {
            key,
            value: Some(value),
        },
        None => Word { key: w, value: None },
    })
}

/// The value of the last `key=value` word for `key` (bare words are ignored).
pub fn value<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    words(cmdline).filter(|w| w.key == key).filter_map(|w| w.value).last()
}

/// Whether `key` appears as a bare word or as `key=anything`.
pub fn has_flag(cmdline: &str, key: &str) -> bool {
    words(cmdline).any(|w| w.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn w<'a>(key: &'a str, value: Option<&'a str>) -> Word<'a> {
        Word { key, value }
    }

    #[test]
    fn basic() {
        let c = "console=serial quiet init=/bin/sh log=debug";
        let all: Vec<Word> = words(c).collect();
        assert_eq!(
            all,
            [
                w("console", Some("serial")),
                w("quiet", None),
                w("init", Some("/bin/sh")),
                w("log", Some("debug")),
            ]
        );
        assert_eq!(value(c, "init"), Some("/bin/sh"));
        assert_eq!(value(c, "quiet"), None);
        assert_eq!(value(c, "missing"), None);
        assert!(has_flag(c, "quiet"));
        assert!(has_flag(c, "console"));
        assert!(!has_flag(c, "serial"));
        assert!(!has_flag(c, "qui"));
    }

    #[test]
    fn empty_and_whitespace() {
        assert_eq!(words("").count(), 0);
        assert_eq!(words(" \t\n  ").count(), 0);
        assert_eq!(value("", "a"), None);
        assert!(!has_flag("", ""));
        let c = "  a=1 \t\t b   c=  ";
        let all: Vec<Word> = words(c).collect();
        assert_eq!(all, [w("a", Some("1")), w("b", None), w("c", Some(""))]);
        assert_eq!(value(c, "c"), Some(""));
    }

    #[test]
    fn last_occurrence_wins_and_equals_in_values() {
        let c = "x=1 x=2 x x=a=b y==";
        assert_eq!(value(c, "x"), Some("a=b"));
        assert_eq!(value(c, "y"), Some("="));
        assert_eq!(value("x=1 x", "x"), Some("1"));
        assert_eq!(words("=v").next(), Some(w("", Some("v"))));
        assert!(has_flag("=v", ""));
    }

    #[test]
    fn non_ascii() {
        let c = "name=zoë\u{a0}flag";
        // U+00A0 is Unicode whitespace and separates words.
        assert_eq!(value(c, "name"), Some("zoë"));
        assert!(has_flag(c, "flag"));
    }
}
