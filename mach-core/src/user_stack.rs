//! Initial user stack image in the System V x86_64 ABI layout.
//!
//! This module owns the byte layout a new process finds on its stack (what Linux gives
//! a new process). From the initial `rsp` upwards:
//!
//! ```text
//! initial_sp -> argc                       (u64)
//!               argv[0] .. argv[argc-1]    (pointers)
//!               NULL
//!               envp[0] .. envp[n-1]       (pointers)
//!               NULL
//!               auxv: (type, value) pairs, caller's entries in order,
//!                     then AT_RANDOM (if random bytes are given), then AT_NULL (0, 0)
//!               padding (zeros) so that initial_sp is 16-byte aligned
//!               auxiliary data in auxv order: the 16 AT_RANDOM bytes (if
//!               given), strings such as AT_EXECFN's (see [`build_stack`])
//!               argument strings, NUL-terminated, in order
//!               environment strings, NUL-terminated, in order
//! stack_top  -> (end of the image)
//! ```
//!
//! Strings are copied verbatim; a string containing a NUL byte will appear truncated
//! to the program.

use alloc::vec::Vec;

/// Why the stack image could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackError {
    /// The image would exceed `max_size`, or does not fit below `stack_top`.
    TooLarge,
    /// More than [`MAX_STRINGS`] argument and environment strings in total.
    TooManyStrings,
}

pub const AT_NULL: u64 = 0;
pub const AT_PHDR: u64 = 3;
pub const AT_PHENT: u64 = 4;
pub const AT_PHNUM: u64 = 5;
pub const AT_PAGESZ: u64 = 6;
pub const AT_ENTRY: u64 = 9;
pub const AT_RANDOM: u64 = 25;
pub const AT_PLATFORM: u64 = 15;
pub const AT_EXECFN: u64 = 31;

/// Maximum number of argument plus environment strings.
pub const MAX_STRINGS: usize = 1 << 16;

/// The built stack contents. `bytes` occupy `[stack_top - bytes.len(), stack_top)`
/// and `initial_sp == stack_top - bytes.len()` (16-byte aligned).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackImage {
    pub bytes: Vec<u8>,
    pub initial_sp: u64,
}

const WORD: usize = 8;
/// Length of the AT_RANDOM bytes.
pub const RANDOM_LEN: usize = 16;

/// The value of one auxiliary vector entry for [`build_stack`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuxValue<'a> {
    /// The value itself.
    Word(u64),
    /// Bytes copied into the string area with a NUL after them; the entry's
    /// value is their address (AT_EXECFN, AT_PLATFORM).
    String(&'a [u8]),
    /// Sixteen bytes copied into the string area as they are; the entry's
    /// value is their address (AT_RANDOM).
    Random([u8; RANDOM_LEN]),
}

impl AuxValue<'_> {
    /// Bytes this value takes in the string area.
    fn data_len(&self) -> Option<usize> {
        match self {
            AuxValue::Word(_) => Some(0),
            AuxValue::String(s) => s.len().checked_add(1),
            AuxValue::Random(_) => Some(RANDOM_LEN),
        }
    }
}

/// Builds the initial stack image for a process whose stack ends at `stack_top`.
///
/// `max_size` bounds `bytes.len()` (TooLarge). `auxv` entries are written in order,
/// then AT_RANDOM (if `random` is `Some`), then AT_NULL.
pub fn build_initial_stack(
    stack_top: u64,
    args: &[&[u8]],
    env: &[&[u8]],
    auxv: &[(u64, u64)],
    random: Option<[u8; 16]>,
    max_size: usize,
) -> Result<StackImage, StackError> {
    let mut entries = Vec::new();
    entries
        .try_reserve_exact(auxv.len().saturating_add(1))
        .map_err(|_| StackError::TooLarge)?;
    entries.extend(auxv.iter().map(|&(ty, v)| (ty, AuxValue::Word(v))));
    entries.extend(random.map(|r| (AT_RANDOM, AuxValue::Random(r))));
    build_stack(stack_top, args, env, &entries, max_size)
}

/// Builds the initial stack image with auxiliary entries that may point into
/// the image: the data of [`AuxValue::String`] and [`AuxValue::Random`]
/// entries goes first in the string area, in order, then the argument and
/// environment strings. Entries are written in order, then AT_NULL.
/// `max_size` bounds `bytes.len()` (TooLarge).
pub fn build_stack(
    stack_top: u64,
    args: &[&[u8]],
    env: &[&[u8]],
    auxv: &[(u64, AuxValue)],
    max_size: usize,
) -> Result<StackImage, StackError> {
    let too_large = StackError::TooLarge;
    let nstrings = args.len().checked_add(env.len()).ok_or(StackError::TooManyStrings)?;
    if nstrings > MAX_STRINGS {
        return Err(StackError::TooManyStrings);
    }

    // Sizes of the string area and the pointer area.
    let mut strings_len = 0usize;
    for (_, v) in auxv {
        strings_len = strings_len
            .checked_add(v.data_len().ok_or(too_large)?)
            .ok_or(too_large)?;
    }
    for s in args.iter().chain(env) {
        strings_len = strings_len
            .checked_add(s.len())
            .and_then(|n| n.checked_add(1))
            .ok_or(too_large)?;
    }
    if strings_len > max_size {
        return Err(too_large);
    }
    let aux_pairs = auxv.len().checked_add(1).ok_or(too_large)?;
    let words = nstrings
        .checked_add(3) // argc, argv NULL, envp NULL
        .and_then(|n| n.checked_add(aux_pairs.checked_mul(2)?))
        .ok_or(too_large)?;
    let pointers_len = words.checked_mul(WORD).ok_or(too_large)?;

    // Addresses.
    let strings_start = stack_top
        .checked_sub(u64::try_from(strings_len).map_err(|_| too_large)?)
        .ok_or(too_large)?;
    let sp = strings_start
        .checked_sub(u64::try_from(pointers_len).map_err(|_| too_large)?)
        .ok_or(too_large)?
        & !15;
    let total = usize::try_from(stack_top - sp).map_err(|_| too_large)?;
    if total > max_size {
        return Err(too_large);
    }

    let mut bytes = Vec::new();
    bytes.try_reserve_exact(total).map_err(|_| too_large)?;
    bytes.resize(total, 0);
    let mut w = Writer {
        bytes: &mut bytes,
        base: sp,
    };

    // String area: the auxiliary data first, then the strings; the pointer
    // area from sp upwards.
    let mut cursor = strings_start;
    let mut ptr = sp;
    ptr = w.put(ptr, &u64::try_from(args.len()).map_err(|_| too_large)?.to_le_bytes())?;
    let mut aux_words = sp
        .checked_add(
            u64::try_from(
                nstrings
                    .checked_add(3)
                    .ok_or(too_large)?
                    .checked_mul(WORD)
                    .ok_or(too_large)?,
            )
            .map_err(|_| too_large)?,
        )
        .ok_or(too_large)?;
    for &(ty, v) in auxv {
        let value = match v {
            AuxValue::Word(x) => x,
            AuxValue::String(s) => {
                let at = cursor;
                cursor = w.put(cursor, s)?;
                cursor = w.put(cursor, &[0])?;
                at
            }
            AuxValue::Random(r) => {
                let at = cursor;
                cursor = w.put(cursor, &r)?;
                at
            }
        };
        aux_words = w.put(aux_words, &ty.to_le_bytes())?;
        aux_words = w.put(aux_words, &value.to_le_bytes())?;
    }
    w.put(aux_words, &[0; 2 * WORD])?; // AT_NULL
    for list in [args, env] {
        for s in list {
            ptr = w.put(ptr, &cursor.to_le_bytes())?;
            cursor = w.put(cursor, s)?;
            cursor = w.put(cursor, &[0])?;
        }
        ptr = w.put(ptr, &0u64.to_le_bytes())?;
    }

    Ok(StackImage { bytes, initial_sp: sp })
}

/// Writes into the image by user address, with bounds checks.
struct Writer<'v> {
    bytes: &'v mut Vec<u8>,
    base: u64,
}

impl Writer<'_> {
    /// Copies `data` to user address `addr`; returns the address just past it.
    fn put(&mut self, addr: u64, data: &[u8]) -> Result<u64, StackError> {
        let off = addr
            .checked_sub(self.base)
            .and_then(|o| usize::try_from(o).ok())
            .ok_or(StackError::TooLarge)?;
        let dst = self
            .bytes
            .get_mut(off..)
            .and_then(|b| b.get_mut(..data.len()))
            .ok_or(StackError::TooLarge)?;
        dst.copy_from_slice(data);
        let len = u64::try_from(data.len()).map_err(|_| StackError::TooLarge)?;
        addr.checked_add(len).ok_or(StackError::TooLarge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    const TOP: u64 = 0x7fff_ffff_f000;

    fn word(img: &StackImage, addr: u64) -> u64 {
        let off = (addr - img.initial_sp) as usize;
        u64::from_le_bytes(img.bytes[off..off + 8].try_into().unwrap())
    }

    fn c_string(img: &StackImage, addr: u64) -> Vec<u8> {
        let off = (addr - img.initial_sp) as usize;
        let rest = &img.bytes[off..];
        rest[..rest.iter().position(|&b| b == 0).unwrap()].to_vec()
    }

    /// Decodes an image into (argv, envp, auxv).
    #[allow(clippy::type_complexity)]
    fn decode(img: &StackImage) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<(u64, u64)>) {
        let mut p = img.initial_sp;
        let argc = word(img, p);
        p += 8;
        let argv: Vec<Vec<u8>> = (0..argc).map(|i| c_string(img, word(img, p + i * 8))).collect();
        p += argc * 8;
        assert_eq!(word(img, p), 0);
        p += 8;
        let mut envp = Vec::new();
        while word(img, p) != 0 {
            envp.push(c_string(img, word(img, p)));
            p += 8;
        }
        p += 8;
        let mut auxv = Vec::new();
        loop {
            let pair = (word(img, p), word(img, p + 8));
            auxv.push(pair);
            p += 16;
            if pair.0 == AT_NULL {
                break;
            }
        }
        (argv, envp, auxv)
    }

    #[test]
    fn layout_round_trips() {
        let args: [&[u8]; 3] = [b"/bin/init", b"-v", b""];
        let env: [&[u8]; 2] = [b"HOME=/", b"TERM=vt100"];
        let auxv = [(AT_PHDR, 0x400040), (AT_PHENT, 56), (AT_PAGESZ, 4096)];
        let random = [0xa5u8; 16];
        let img = build_initial_stack(TOP, &args, &env, &auxv, Some(random), 1 << 20).unwrap();
        assert_eq!(img.initial_sp % 16, 0);
        assert_eq!(img.initial_sp, TOP - img.bytes.len() as u64);
        let (argv, envp, aux) = decode(&img);
        assert_eq!(argv, args.map(|a| a.to_vec()));
        assert_eq!(envp, env.map(|e| e.to_vec()));
        assert_eq!(&aux[..3], &auxv);
        assert_eq!(aux[3].0, AT_RANDOM);
        assert_eq!(aux[4], (AT_NULL, 0));
        assert_eq!(aux.len(), 5);
        let r = (aux[3].1 - img.initial_sp) as usize;
        assert_eq!(img.bytes[r..r + 16], random);
        // Strings sit above the pointer area, inside the image, and the last string
        // ends exactly at stack_top.
        let words_end = img.initial_sp + 8 * (1 + 4 + 3 + 2 * 5);
        assert!(aux[3].1 >= words_end);
        assert_eq!(img.bytes.last(), Some(&0));
        assert_eq!(c_string(&img, TOP - 11), b"TERM=vt100");
        // The size is minimal: strings + pointer words, rounded up to 16.
        let strings: usize = 16 + 10 + 3 + 1 + 7 + 11;
        let exact = strings + 8 * (1 + 4 + 3 + 2 * 5);
        assert_eq!(img.bytes.len(), exact.next_multiple_of(16));
    }

    #[test]
    fn empty_everything() {
        let img = build_initial_stack(TOP, &[], &[], &[], None, 4096).unwrap();
        // argc, NULL, NULL, AT_NULL pair = 5 words, padded to 48 bytes.
        assert_eq!(img.bytes.len(), 48);
        assert_eq!(img.initial_sp % 16, 0);
        assert!(img.bytes.iter().all(|&b| b == 0));
        let (argv, envp, aux) = decode(&img);
        assert!(argv.is_empty() && envp.is_empty());
        assert_eq!(aux, [(AT_NULL, 0)]);
    }

    #[test]
    fn unaligned_stack_top() {
        for top in [TOP - 1, TOP - 7, TOP - 8, TOP - 15] {
            let img = build_initial_stack(top, &[b"a"], &[b"b=c"], &[(AT_ENTRY, 1)], None, 4096).unwrap();
            assert_eq!(img.initial_sp % 16, 0);
            assert_eq!(img.initial_sp + img.bytes.len() as u64, top);
            let (argv, envp, aux) = decode(&img);
            assert_eq!(argv, [b"a".to_vec()]);
            assert_eq!(envp, [b"b=c".to_vec()]);
            assert_eq!(aux, [(AT_ENTRY, 1), (AT_NULL, 0)]);
        }
    }

    #[test]
    fn too_large() {
        let big = vec![b'x'; 5000];
        let args: [&[u8]; 1] = [&big];
        assert_eq!(
            build_initial_stack(TOP, &args, &[], &[], None, 4096),
            Err(StackError::TooLarge)
        );
        let ok = build_initial_stack(TOP, &args, &[], &[], None, 8192).unwrap();
        assert!(ok.bytes.len() <= 8192);
        // Exactly at the limit succeeds, one below fails.
        let n = ok.bytes.len();
        assert!(build_initial_stack(TOP, &args, &[], &[], None, n).is_ok());
        assert_eq!(
            build_initial_stack(TOP, &args, &[], &[], None, n - 1),
            Err(StackError::TooLarge)
        );
        // Does not fit below a tiny stack_top.
        assert_eq!(
            build_initial_stack(100, &args, &[], &[], None, usize::MAX),
            Err(StackError::TooLarge)
        );
        assert_eq!(
            build_initial_stack(0, &[], &[], &[], None, usize::MAX),
            Err(StackError::TooLarge)
        );
        let many_aux = vec![(AT_PAGESZ, 4096); 1000];
        assert_eq!(
            build_initial_stack(TOP, &[], &[], &many_aux, None, 4096),
            Err(StackError::TooLarge)
        );
    }

    #[test]
    fn auxiliary_strings_point_into_the_image() {
        let random = [7u8; 16];
        let auxv = [
            (AT_PAGESZ, AuxValue::Word(4096)),
            (AT_RANDOM, AuxValue::Random(random)),
            (AT_EXECFN, AuxValue::String(b"/bin/sh")),
            (AT_PLATFORM, AuxValue::String(b"x86_64")),
            (AT_ENTRY, AuxValue::Word(0x401000)),
        ];
        let args: [&[u8]; 2] = [b"sh", b"-c"];
        let env: [&[u8]; 1] = [b"PATH=/bin"];
        let img = build_stack(TOP, &args, &env, &auxv, 4096).unwrap();
        assert_eq!(img.initial_sp % 16, 0);
        let (argv, envp, aux) = decode(&img);
        assert_eq!(argv, args.map(|a| a.to_vec()));
        assert_eq!(envp, env.map(|e| e.to_vec()));
        let types: Vec<u64> = aux.iter().map(|a| a.0).collect();
        assert_eq!(types, [AT_PAGESZ, AT_RANDOM, AT_EXECFN, AT_PLATFORM, AT_ENTRY, AT_NULL]);
        assert_eq!((aux[0].1, aux[4].1, aux[5].1), (4096, 0x401000, 0));
        let r = (aux[1].1 - img.initial_sp) as usize;
        assert_eq!(img.bytes[r..r + 16], random);
        assert_eq!(c_string(&img, aux[2].1), b"/bin/sh");
        assert_eq!(c_string(&img, aux[3].1), b"x86_64");
        // The data sits in the string area, above every pointer word.
        let words_end = img.initial_sp + 8 * (1 + 2 + 1 + 1 + 1 + 2 * 6);
        assert!(aux[1].1 >= words_end && aux[3].1 + 7 <= TOP);
        let strings: usize = 16 + 8 + 7 + 3 + 3 + 10;
        assert_eq!(aux[1].1, TOP - strings as u64, "the random bytes open the string area");
        assert_eq!(img.bytes.len(), (strings + 8 * (6 + 12)).next_multiple_of(16));
        // The old entry point lays out the same bytes as the new one.
        let old = build_initial_stack(TOP, &args, &env, &[(AT_PAGESZ, 4096)], Some(random), 4096).unwrap();
        let new = build_stack(
            TOP,
            &args,
            &env,
            &[(AT_PAGESZ, AuxValue::Word(4096)), (AT_RANDOM, AuxValue::Random(random))],
            4096,
        )
        .unwrap();
        assert_eq!(old, new);
    }

    #[test]
    fn auxiliary_data_counts_towards_the_limit() {
        let big = vec![b'p'; 5000];
        let auxv = [(AT_EXECFN, AuxValue::String(&big))];
        assert_eq!(build_stack(TOP, &[], &[], &auxv, 4096), Err(StackError::TooLarge));
        let img = build_stack(TOP, &[], &[], &auxv, 8192).unwrap();
        let (_, _, aux) = decode(&img);
        assert_eq!(c_string(&img, aux[0].1), big);
        assert_eq!(
            build_stack(4000, &[], &[], &auxv, usize::MAX),
            Err(StackError::TooLarge)
        );
    }

    #[test]
    fn too_many_strings() {
        let empty: &[u8] = b"";
        let args = vec![empty; MAX_STRINGS];
        assert_eq!(
            build_initial_stack(TOP, &args, &[empty], &[], None, usize::MAX),
            Err(StackError::TooManyStrings)
        );
        let img = build_initial_stack(TOP, &args, &[], &[], None, usize::MAX).unwrap();
        assert_eq!(word(&img, img.initial_sp), MAX_STRINGS as u64);
    }
}
