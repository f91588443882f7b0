//! Basic virtual-memory vocabulary: protections ([`VmProt`]), inheritance
//! ([`VmInherit`]), page rounding with overflow checks, and the typed error
//! ([`VmError`]) every VM operation returns, with its `kern_return_t` mapping.

use core::fmt;
use core::ops::{BitAnd, BitOr};

use mach_abi::kern_return::{
    KERN_INVALID_ADDRESS, KERN_INVALID_ARGUMENT, KERN_MEMORY_ERROR, KERN_MEMORY_FAILURE, KERN_MEMORY_PRESENT,
    KERN_NO_SPACE, KERN_PROTECTION_FAILURE, KERN_RESOURCE_SHORTAGE, KernReturn,
};

/// Size of a virtual page, in bytes.
pub const PAGE_SIZE: u64 = crate::PAGE_SIZE;

/// Mask of the offset-within-page bits.
pub const PAGE_MASK: u64 = PAGE_SIZE - 1;

/// Rounds `addr` down to a page boundary (never fails).
pub const fn trunc_page(addr: u64) -> u64 {
    addr & !PAGE_MASK
}

/// Rounds `addr` up to a page boundary; `None` when that would pass the top of
/// the 64-bit address space (the wrap to 0 behind XNU's CVE-2023-32434).
pub const fn round_page(addr: u64) -> Option<u64> {
    match addr.checked_add(PAGE_MASK) {
        Some(v) => Some(v & !PAGE_MASK),
        None => None,
    }
}

/// True when `addr` is a multiple of [`PAGE_SIZE`].
pub const fn page_aligned(addr: u64) -> bool {
    addr & PAGE_MASK == 0
}

/// `vm_prot_t`: a set of access rights. Only the three defined bits can ever be
/// set: values are built from the constants or checked by [`VmProt::from_bits`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VmProt(u32);

impl VmProt {
    pub const NONE: VmProt = VmProt(0);
    pub const READ: VmProt = VmProt(1);
    pub const WRITE: VmProt = VmProt(2);
    pub const EXECUTE: VmProt = VmProt(4);
    /// `VM_PROT_DEFAULT`: what `vm_allocate` gives (read and write).
    pub const DEFAULT: VmProt = VmProt(3);
    /// `VM_PROT_ALL`: read, write and execute (the default maximum protection).
    pub const ALL: VmProt = VmProt(7);

    /// The protection with exactly these bits; `None` if an undefined bit is set.
    pub const fn from_bits(bits: u32) -> Option<VmProt> {
        if bits & !Self::ALL.0 == 0 {
            Some(VmProt(bits))
        } else {
            None
        }
    }

    /// The protection with the defined bits of `bits`, ignoring the others.
    pub const fn from_bits_truncate(bits: u32) -> VmProt {
        VmProt(bits & Self::ALL.0)
    }

    pub const fn bits(self) -> u32 {
        self.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when every right in `other` is also in `self`.
    pub const fn contains(self, other: VmProt) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: VmProt) -> VmProt {
        VmProt(self.0 | other.0)
    }

    pub const fn intersection(self, other: VmProt) -> VmProt {
        VmProt(self.0 & other.0)
    }

    /// The rights of `self` that are not in `other`.
    pub const fn difference(self, other: VmProt) -> VmProt {
        VmProt(self.0 & !other.0)
    }
}

impl BitOr for VmProt {
    type Output = VmProt;
    fn bitor(self, rhs: VmProt) -> VmProt {
        self.union(rhs)
    }
}

impl BitAnd for VmProt {
    type Output = VmProt;
    fn bitand(self, rhs: VmProt) -> VmProt {
        self.intersection(rhs)
    }
}

impl fmt::Debug for VmProt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = if self.contains(VmProt::READ) { 'r' } else { '-' };
        let w = if self.contains(VmProt::WRITE) { 'w' } else { '-' };
        let x = if self.contains(VmProt::EXECUTE) { 'x' } else { '-' };
        write!(f, "VmProt({r}{w}{x})")
    }
}

/// `vm_inherit_t`: what happens to a region when its task is used as the parent
/// of `task_create(inherit_memory = TRUE)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[repr(u32)]
pub enum VmInherit {
    /// `VM_INHERIT_SHARE`: parent and child share the same memory.
    Share = 0,
    /// `VM_INHERIT_COPY`: the child gets a (copy-on-write) copy. The default.
    #[default]
    Copy = 1,
    /// `VM_INHERIT_NONE`: the region is absent from the child.
    None = 2,
}

impl VmInherit {
    /// Decodes a raw `vm_inherit_t`; `None` for an undefined value.
    pub const fn from_raw(raw: u32) -> Option<VmInherit> {
        match raw {
            0 => Some(VmInherit::Share),
            1 => Some(VmInherit::Copy),
            2 => Some(VmInherit::None),
            _ => None,
        }
    }

    pub const fn raw(self) -> u32 {
        self as u32
    }
}

/// Why a VM operation failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VmError {
    /// The address (or part of the range) is not mapped, or lies outside the map.
    InvalidAddress,
    /// A malformed argument: zero size, address arithmetic that overflows,
    /// an unaligned object offset, unwiring unwired memory.
    InvalidArgument,
    /// The object id names no live object.
    InvalidObject,
    /// No free range of the requested size, a fixed range that is in use, or the
    /// map's entry limit reached.
    NoSpace,
    /// The access or new protection exceeds what the entry allows.
    ProtectionFailure,
    /// A counter (reference count, wire count) would overflow.
    ResourceShortage,
    /// The model is inconsistent for this request (an offset outside its object).
    MemoryFailure,
    /// A page is already resident at that offset.
    MemoryPresent,
    /// The object's pager cannot provide the page: it answered
    /// `memory_object_data_error`, or it died (`KERN_MEMORY_ERROR`).
    MemoryError,
}

impl VmError {
    /// The `kern_return_t` a Mach call reports for this error.
    pub const fn kr(self) -> KernReturn {
        match self {
            VmError::InvalidAddress => KERN_INVALID_ADDRESS,
            VmError::InvalidArgument | VmError::InvalidObject => KERN_INVALID_ARGUMENT,
            VmError::NoSpace => KERN_NO_SPACE,
            VmError::ProtectionFailure => KERN_PROTECTION_FAILURE,
            VmError::ResourceShortage => KERN_RESOURCE_SHORTAGE,
            VmError::MemoryFailure => KERN_MEMORY_FAILURE,
            VmError::MemoryPresent => KERN_MEMORY_PRESENT,
            VmError::MemoryError => KERN_MEMORY_ERROR,
        }
    }
}

impl fmt::Display for VmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            VmError::InvalidAddress => "invalid address",
            VmError::InvalidArgument => "invalid argument",
            VmError::InvalidObject => "no such VM object",
            VmError::NoSpace => "no space in the address map",
            VmError::ProtectionFailure => "protection failure",
            VmError::ResourceShortage => "resource shortage",
            VmError::MemoryFailure => "memory failure",
            VmError::MemoryPresent => "page already present",
            VmError::MemoryError => "the pager cannot provide the page",
        };
        f.write_str(s)
    }
}

/// Turns a `(addr, size)` request into the page range `[trunc_page(addr),
/// round_page(addr + size))`. `Ok(None)` for `size == 0`; `InvalidArgument`
/// when `addr + size` wraps or its rounding passes the top of the address space.
pub fn page_range(addr: u64, size: u64) -> Result<Option<(u64, u64)>, VmError> {
    if size == 0 {
        return Ok(None);
    }
    let end = addr.checked_add(size).ok_or(VmError::InvalidArgument)?;
    let end = round_page(end).ok_or(VmError::InvalidArgument)?;
    Ok(Some((trunc_page(addr), end)))
}
