//! The `newc` cpio archive format, as written by `cpio -o -H newc` and read by
//! Linux when it unpacks an initramfs.
//!
//! This module owns the parsing of one archive into its entries. Each entry is
//! a 110-byte ASCII header (the magic `070701`, or `070702` for the "crc"
//! variant whose check field is the sum of a regular file's data bytes), then thirteen
//! 8-digit hexadecimal fields), the NUL-terminated name padded so that header
//! and name end on a 4-byte boundary, then the data padded to 4 bytes. The
//! archive ends with an entry named `TRAILER!!!`.
//!
//! [`Reader`] iterates over the entries, borrowing names and data from the
//! input; every malformation is a typed [`Error`] carrying the offset of the
//! entry's header, and no input makes it panic. Nothing here interprets the
//! entries (that is [`crate::fs`]'s `from_cpio`).

/// The magic of a `newc` header.
pub const MAGIC_NEWC: &[u8; 6] = b"070701";
/// The magic of a `newc` header whose check field is a data checksum ("crc").
pub const MAGIC_CRC: &[u8; 6] = b"070702";
/// The name of the entry that ends an archive.
pub const TRAILER: &[u8] = b"TRAILER!!!";
/// Size of a header: the magic and thirteen 8-digit fields.
pub const HEADER_SIZE: usize = 110;
/// The longest name accepted, NUL included (Linux's `PATH_MAX`).
pub const NAME_SIZE_MAX: usize = linux_raw_sys::general::PATH_MAX as usize;

/// The header fields, in archive order (used to name a field in [`Error::BadHex`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Ino,
    Mode,
    Uid,
    Gid,
    Nlink,
    Mtime,
    FileSize,
    DevMajor,
    DevMinor,
    RdevMajor,
    RdevMinor,
    NameSize,
    Check,
}

const FIELDS: [Field; 13] = [
    Field::Ino,
    Field::Mode,
    Field::Uid,
    Field::Gid,
    Field::Nlink,
    Field::Mtime,
    Field::FileSize,
    Field::DevMajor,
    Field::DevMinor,
    Field::RdevMajor,
    Field::RdevMinor,
    Field::NameSize,
    Field::Check,
];

/// Why an archive could not be read. `offset` is where the entry's header starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The header does not start with `070701` or `070702`.
    BadMagic { offset: usize },
    /// A header field holds something other than 8 hexadecimal digits.
    BadHex { offset: usize, field: Field },
    /// The input ends inside a header.
    TruncatedHeader { offset: usize },
    /// The input ends inside the name (or its padding).
    TruncatedName { offset: usize },
    /// The input ends inside the data (or its padding).
    TruncatedData { offset: usize },
    /// The name size is 0, or the name's last byte is not NUL.
    NameNotTerminated { offset: usize },
    /// The name has a NUL before its end.
    NameHasNul { offset: usize },
    /// The name size is larger than [`NAME_SIZE_MAX`].
    NameTooLong { offset: usize },
    /// An offset or size computation overflowed.
    SizeOverflow { offset: usize },
    /// A regular file in a "crc" archive whose data does not sum to its check
    /// field (Linux and GNU cpio checksum only regular files' data).
    BadChecksum { offset: usize },
    /// The input ends after a whole entry but before the trailer.
    MissingTrailer { offset: usize },
}

/// One archive entry, borrowing its name and data from the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The name, without its NUL (for example `bin/sh` or `.`).
    pub name: &'a [u8],
    pub ino: u32,
    /// File type and permission bits, as in `st_mode`.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: u32,
    /// The device holding the original file.
    pub dev_major: u32,
    pub dev_minor: u32,
    /// The device a character or block special file stands for.
    pub rdev_major: u32,
    pub rdev_minor: u32,
    /// The check field (the data checksum in a "crc" archive, else usually 0).
    pub check: u32,
    /// Whether the header had the "crc" magic.
    pub crc: bool,
    /// The data: file contents, or a symlink's target.
    pub data: &'a [u8],
    /// Where the entry's header starts in the archive.
    pub offset: usize,
}

/// `a + b`, or `SizeOverflow` for the entry at `offset`.
fn add(a: usize, b: usize, offset: usize) -> Result<usize, Error> {
    a.checked_add(b).ok_or(Error::SizeOverflow { offset })
}

/// `n` rounded up to a multiple of 4, or `SizeOverflow`.
fn pad4(n: usize, offset: usize) -> Result<usize, Error> {
    Ok(add(n, 3, offset)? & !3)
}

/// The value of 8 hexadecimal digits (either case).
fn hex8(digits: &[u8]) -> Option<u32> {
    if digits.len() != 8 {
        return None;
    }
    let mut value: u32 = 0;
    for &d in digits {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return None,
        };
        value = (value << 4) | u32::from(v);
    }
    Some(value)
}

/// Parses the entry whose header starts at `offset`; returns it and the offset
/// of the next header.
fn parse_entry(data: &[u8], offset: usize) -> Result<(Entry<'_>, usize), Error> {
    let name_start = add(offset, HEADER_SIZE, offset)?;
    let header = data.get(offset..name_start).ok_or(Error::TruncatedHeader { offset })?;
    let crc = match header.get(..6) {
        Some(m) if m == MAGIC_NEWC => false,
        Some(m) if m == MAGIC_CRC => true,
        _ => return Err(Error::BadMagic { offset }),
    };
    let mut values = [0u32; 13];
    for (i, (value, field)) in values.iter_mut().zip(FIELDS).enumerate() {
        let start = 6 + 8 * i;
        let digits = header.get(start..start + 8).ok_or(Error::TruncatedHeader { offset })?;
        *value = hex8(digits).ok_or(Error::BadHex { offset, field })?;
    }
    let [
        ino,
        mode,
        uid,
        gid,
        nlink,
        mtime,
        file_size,
        dev_major,
        dev_minor,
        rdev_major,
        rdev_minor,
        name_size,
        check,
    ] = values;
    let name_size = usize::try_from(name_size).map_err(|_| Error::SizeOverflow { offset })?;
    if name_size == 0 {
        return Err(Error::NameNotTerminated { offset });
    }
    if name_size > NAME_SIZE_MAX {
        return Err(Error::NameTooLong { offset });
    }
    let name_end = add(name_start, name_size, offset)?;
    let data_start = add(offset, pad4(add(HEADER_SIZE, name_size, offset)?, offset)?, offset)?;
    let name_nul = data.get(name_start..name_end).ok_or(Error::TruncatedName { offset })?;
    if data.len() < data_start {
        return Err(Error::TruncatedName { offset });
    }
    let (name, nul) = name_nul.split_at(name_nul.len().saturating_sub(1));
    if nul != [0] {
        return Err(Error::NameNotTerminated { offset });
    }
    if name.contains(&0) {
        return Err(Error::NameHasNul { offset });
    }
    let file_size = usize::try_from(file_size).map_err(|_| Error::SizeOverflow { offset })?;
    let data_end = add(data_start, file_size, offset)?;
    let body = data.get(data_start..data_end).ok_or(Error::TruncatedData { offset })?;
    let next = add(data_start, pad4(file_size, offset)?, offset)?;
    if data.len() < next {
        return Err(Error::TruncatedData { offset });
    }
    if crc && mode & linux_raw_sys::general::S_IFMT == linux_raw_sys::general::S_IFREG {
        let sum = body.iter().fold(0u32, |s, &b| s.wrapping_add(u32::from(b)));
        if sum != check {
            return Err(Error::BadChecksum { offset });
        }
    }
    let entry = Entry {
        name,
        ino,
        mode,
        uid,
        gid,
        nlink,
        mtime,
        dev_major,
        dev_minor,
        rdev_major,
        rdev_minor,
        check,
        crc,
        data: body,
        offset,
    };
    Ok((entry, next))
}

/// An iterator over the entries of one archive, up to (not including) the
/// trailer. After an error it yields nothing more.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
    offset: usize,
    done: bool,
    /// Offset just past the trailer, once it has been read.
    end: Option<usize>,
}

impl<'a> Reader<'a> {
    /// A reader over the archive that starts at the beginning of `data`.
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader {
            data,
            offset: 0,
            done: false,
            end: None,
        }
    }

    /// The bytes after the trailer (Linux accepts further archives there,
    /// after zero padding), once the iterator has reached the trailer.
    pub fn rest(&self) -> Option<&'a [u8]> {
        self.end.and_then(|end| self.data.get(end..))
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Entry<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.offset >= self.data.len() {
            self.done = true;
            return Some(Err(Error::MissingTrailer { offset: self.offset }));
        }
        match parse_entry(self.data, self.offset) {
            Ok((entry, next)) => {
                self.offset = next;
                if entry.name == TRAILER {
                    self.done = true;
                    self.end = Some(next);
                    None
                } else {
                    Some(Ok(entry))
                }
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// All the entries of the archive at the start of `data`, or its first error.
pub fn entries(data: &[u8]) -> Result<alloc::vec::Vec<Entry<'_>>, Error> {
    Reader::new(data).collect()
}

#[cfg(test)]
#[path = "cpio_tests.rs"]
pub(crate) mod tests;
