//! In-line byte arrays (`inline<u8, N>`) on the wire: a `u32` count, the
//! bytes, zero padding to a multiple of 4. The arrays of a message come after
//! all its fixed-size fields, one after the other, so a message is only as
//! long as its arrays are.
//!
//! Here are the pieces generated code puts together: sizes ([`inline_end`]),
//! writing ([`put_inline`]; [`place_inline`] for a server's outputs, which
//! its method wrote straight into the reply buffer through [`out_windows`]),
//! reading ([`get_inline`], [`check_end`]) and handing a reply's arrays to
//! the caller's buffers ([`copy_out`]). Nothing allocates, panics or reads
//! past a slice; every count from a message is checked against `N` and
//! against the message's end before it is used.

use mach_abi::message::MIG_ARRAY_TOO_LARGE;

use super::{get_u32, put_u32};

/// Bytes of an array's count.
pub const INLINE_COUNT_SIZE: usize = 4;

/// `len` rounded up to a multiple of 4.
fn padded(len: usize) -> Option<usize> {
    Some(len.checked_add(3)? & !3)
}

/// Where the next field starts after an array of `len` bytes whose count is
/// at `off`; `None` if `len > max` (or on overflow).
pub fn inline_end(off: usize, len: usize, max: usize) -> Option<usize> {
    if len > max {
        return None;
    }
    off.checked_add(INLINE_COUNT_SIZE)?.checked_add(padded(len)?)
}

/// `buf[..size]` with its first `fixed` bytes zeroed (the rest is written
/// by [`put_inline`] / [`place_inline`], padding included); `None` if `buf`
/// is shorter than `size` or `fixed > size`.
pub fn begin_fixed(buf: &mut [u8], size: usize, fixed: usize) -> Option<&mut [u8]> {
    let m = buf.get_mut(..size)?;
    m.get_mut(..fixed)?.fill(0);
    Some(m)
}

/// Writes the array `data` with its count at `off` and zeroed padding;
/// returns the offset after it.
pub fn put_inline(m: &mut [u8], off: usize, data: &[u8]) -> Option<usize> {
    let start = off.checked_add(INLINE_COUNT_SIZE)?;
    let end = start.checked_add(data.len())?;
    let next = start.checked_add(padded(data.len())?)?;
    m.get(..next)?;
    put_u32(m, off, u32::try_from(data.len()).ok()?)?;
    m.get_mut(start..end)?.copy_from_slice(data);
    m.get_mut(end..next)?.fill(0);
    Some(next)
}

/// Like [`put_inline`] for `count` bytes that already lie in `m` at `from`
/// (where [`out_windows`] let a server method write them): moves them to
/// follow the count at `off` (`from >= off + 4`: arrays only move towards
/// the start), writes the count, zeroes the padding, and returns the offset
/// after it.
pub fn place_inline(m: &mut [u8], off: usize, from: usize, count: usize) -> Option<usize> {
    let start = off.checked_add(INLINE_COUNT_SIZE)?;
    let end = start.checked_add(count)?;
    let next = start.checked_add(padded(count)?)?;
    if from < start {
        return None;
    }
    let from_end = from.checked_add(count)?;
    m.get(..next.max(from_end))?;
    if from != start {
        m.copy_within(from..from_end, start);
    }
    put_u32(m, off, u32::try_from(count).ok()?)?;
    m.get_mut(end..next)?.fill(0);
    Some(next)
}

/// Reads the array whose count is at `off` of message `m`: `None` if the
/// count is beyond `max` or the bytes and their padding run past the end of
/// `m`. Returns the bytes and the offset after the padding.
pub fn get_inline(m: &[u8], off: usize, max: usize) -> Option<(&[u8], usize)> {
    let count = usize::try_from(get_u32(m, off)?).ok()?;
    if count > max {
        return None;
    }
    let start = off.checked_add(INLINE_COUNT_SIZE)?;
    let data = m.get(start..start.checked_add(count)?)?;
    let next = start.checked_add(padded(count)?)?;
    m.get(..next)?;
    Some((data, next))
}

/// `Some(())` if the last array ended exactly at the end of the message:
/// a message must be exactly as long as its arrays make it.
pub fn check_end(m: &[u8], off: usize) -> Option<()> {
    (off == m.len()).then_some(())
}

/// Disjoint windows `m[start..start + len]` for each `(start, len)` of
/// `spans` (in increasing, non-overlapping order): where a server method
/// writes its in-line outputs, in place in the reply buffer. `None` if a span
/// is out of order or past the end of `m`.
///
/// The windows are not cleared: they hold whatever the buffer held, and only
/// the bytes the method reports (its count) are ever sent.
pub fn out_windows<const K: usize>(m: &mut [u8], spans: [(usize, usize); K]) -> Option<[&mut [u8]; K]> {
    let mut out: [&mut [u8]; K] = core::array::from_fn(|_| Default::default());
    let mut rest = m;
    let mut pos = 0usize;
    for (slot, (start, len)) in out.iter_mut().zip(spans) {
        let (_, tail) = core::mem::take(&mut rest).split_at_mut_checked(start.checked_sub(pos)?)?;
        let (window, tail) = tail.split_at_mut_checked(len)?;
        *slot = window;
        rest = tail;
        pos = start.checked_add(len)?;
    }
    Some(out)
}

/// Copies each received array into the caller's buffer for it, after
/// checking that every one fits: `Err(MIG_ARRAY_TOO_LARGE)` (and nothing
/// copied) if a buffer is shorter than its array.
pub fn copy_out<const K: usize>(pairs: [(&mut [u8], &[u8]); K]) -> Result<(), i32> {
    if pairs.iter().any(|(dst, src)| dst.len() < src.len()) {
        return Err(MIG_ARRAY_TOO_LARGE);
    }
    for (dst, src) in pairs {
        dst.get_mut(..src.len())
            .ok_or(MIG_ARRAY_TOO_LARGE)?
            .copy_from_slice(src);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_count_four_bytes_and_pad_to_four() {
        assert_eq!(inline_end(28, 0, 10), Some(32));
        assert_eq!(inline_end(28, 1, 10), Some(36));
        assert_eq!(inline_end(28, 4, 10), Some(36));
        assert_eq!(inline_end(28, 5, 10), Some(40));
        assert_eq!(inline_end(28, 10, 10), Some(44));
        assert_eq!(inline_end(28, 11, 10), None, "longer than N");
        assert_eq!(inline_end(usize::MAX - 4, 1, 10), None, "overflow");
        assert_eq!(inline_end(0, usize::MAX, usize::MAX), None, "overflow");
    }

    #[test]
    fn put_writes_count_bytes_and_zero_padding() {
        let mut m = [0xAAu8; 16];
        assert_eq!(put_inline(&mut m, 4, b"abcde"), Some(16));
        assert_eq!(m, *b"\xAA\xAA\xAA\xAA\x05\0\0\0abcde\0\0\0");
        assert_eq!(put_inline(&mut m, 4, b""), Some(8));
        assert_eq!(get_u32(&m, 4), Some(0));
        assert_eq!(put_inline(&mut m, 8, b"abcde"), None, "padding past the end");
        assert_eq!(put_inline(&mut m, 12, b""), Some(16));
        assert_eq!(put_inline(&mut m, 13, b""), None);
    }

    #[test]
    fn place_moves_towards_the_start_and_zeroes_the_padding() {
        // A window at 12 holding "xyz", placed behind a count at 0.
        let mut m = [0xAAu8; 20];
        m[12..15].copy_from_slice(b"xyz");
        assert_eq!(place_inline(&mut m, 0, 12, 3), Some(8));
        assert_eq!(&m[..8], b"\x03\0\0\0xyz\0");
        // In place (the first array): nothing moves.
        let mut m = [0xAAu8; 12];
        m[4..9].copy_from_slice(b"hello");
        assert_eq!(place_inline(&mut m, 0, 4, 5), Some(12));
        assert_eq!(&m, b"\x05\0\0\0hello\0\0\0");
        // Overlapping source and destination.
        let mut m = [0u8; 16];
        m[6..14].copy_from_slice(b"01234567");
        assert_eq!(place_inline(&mut m, 0, 6, 8), Some(12));
        assert_eq!(&m[4..12], b"01234567");
        // Never backwards onto the count, never past the buffer.
        assert_eq!(place_inline(&mut [0u8; 16], 4, 7, 1), None);
        assert_eq!(place_inline(&mut [0u8; 16], 0, 12, 5), None);
        assert_eq!(place_inline(&mut [0u8; 16], 8, 8, 5), None);
    }

    #[test]
    fn get_checks_the_count_against_n_and_the_end() {
        let m = *b"\x05\0\0\0hello\0\0\0";
        assert_eq!(get_inline(&m, 0, 5), Some((&b"hello"[..], 12)));
        assert_eq!(get_inline(&m, 0, 4), None, "count beyond N");
        assert_eq!(get_inline(&m[..11], 0, 5), None, "padding past the end");
        assert_eq!(get_inline(&m[..8], 0, 5), None, "bytes past the end");
        assert_eq!(get_inline(&m[..3], 0, 5), None, "no count");
        assert_eq!(get_inline(&m, usize::MAX - 2, 5), None);
        let big = *b"\xff\xff\xff\xff";
        assert_eq!(get_inline(&big, 0, usize::MAX), None);
        assert_eq!(check_end(&m, 12), Some(()));
        assert_eq!(check_end(&m, 8), None);
        assert_eq!(check_end(&m, 16), None);
    }

    #[test]
    fn windows_are_disjoint_and_in_bounds() {
        let mut m = [0u8; 32];
        let [a, b] = out_windows(&mut m, [(4, 5), (12, 8)]).unwrap();
        a.fill(1);
        b.fill(2);
        assert_eq!((a.len(), b.len()), (5, 8));
        assert_eq!(
            &m[..21],
            b"\0\0\0\0\x01\x01\x01\x01\x01\0\0\0\x02\x02\x02\x02\x02\x02\x02\x02\0"
        );
        assert!(out_windows(&mut m, [(4, 5), (8, 1)]).is_none(), "overlapping");
        assert!(out_windows(&mut m, [(24, 9)]).is_none(), "past the end");
        assert!(out_windows(&mut m, [(24, 8)]).is_some());
        assert!(out_windows(&mut m, [(usize::MAX, 1)]).is_none());
    }

    #[test]
    fn copy_out_copies_all_or_nothing() {
        let (mut a, mut b) = ([0u8; 3], [0u8; 2]);
        assert_eq!(
            copy_out([(&mut a[..], &b"xy"[..]), (&mut b[..], &b"abc"[..])]),
            Err(MIG_ARRAY_TOO_LARGE)
        );
        assert_eq!((a, b), ([0; 3], [0; 2]));
        assert_eq!(copy_out([(&mut a[..], &b"xyz"[..]), (&mut b[..], &b"a"[..])]), Ok(()));
        assert_eq!((a, b), (*b"xyz", *b"a\0"));
    }

    #[test]
    fn begin_fixed_zeroes_only_the_fixed_part() {
        let mut m = [0xAAu8; 8];
        assert_eq!(begin_fixed(&mut m, 6, 4).map(|s| s.len()), Some(6));
        assert_eq!(m, [0, 0, 0, 0, 0xAA, 0xAA, 0xAA, 0xAA]);
        assert!(begin_fixed(&mut m, 9, 4).is_none());
        assert!(begin_fixed(&mut m, 4, 5).is_none());
    }
}
