//! Reading the multiboot2 boot information that GRUB hands the kernel.
//!
//! Everything the kernel needs from it is copied into a plain [`BootInfo`] right
//! away (memory regions, module locations and command lines), so no other code
//! holds pointers into the boot information.

use super::paging::phys_to_virt;
use mach_core::frame::PhysRange;
use multiboot2::{BootInformation, BootInformationHeader, MemoryAreaType};

const MULTIBOOT2_MAGIC: u32 = 0x36d7_6289;
pub const MAX_REGIONS: usize = 64;
pub const MAX_MODULES: usize = 32;
pub const MAX_CMDLINE: usize = 256;

/// A fixed-capacity copy of a command-line string.
#[derive(Clone, Copy)]
pub struct CmdLine {
    bytes: [u8; MAX_CMDLINE],
    len: usize,
}

impl CmdLine {
    const EMPTY: CmdLine = CmdLine {
        bytes: [0; MAX_CMDLINE],
        len: 0,
    };

    fn from_str(s: &str) -> Self {
        let mut c = Self::EMPTY;
        // Truncate on a character boundary.
        let mut n = s.len().min(MAX_CMDLINE);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        c.bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
        c.len = n;
        c
    }

    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

#[derive(Clone, Copy)]
pub struct BootModule {
    pub range: PhysRange,
    pub cmdline: CmdLine,
}

pub struct BootInfo {
    pub cmdline: CmdLine,
    pub usable: [PhysRange; MAX_REGIONS],
    pub usable_count: usize,
    pub modules: [BootModule; MAX_MODULES],
    pub module_count: usize,
    /// Where the boot information itself lies (it must not be handed out).
    pub info_range: PhysRange,
    /// End of the highest usable RAM region.
    pub max_phys: u64,
}

impl BootInfo {
    pub fn usable(&self) -> &[PhysRange] {
        &self.usable[..self.usable_count]
    }
    pub fn modules(&self) -> &[BootModule] {
        &self.modules[..self.module_count]
    }
}

#[derive(Debug)]
#[allow(dead_code)] // fields are shown through Debug in the panic message
pub enum BootInfoError {
    BadMagic(u32),
    Unreadable,
    NoMemoryMap,
}

/// Parses the boot information at physical address `info_phys`.
pub fn parse(magic: u32, info_phys: u64) -> Result<BootInfo, BootInfoError> {
    if magic != MULTIBOOT2_MAGIC {
        return Err(BootInfoError::BadMagic(magic));
    }
    let ptr = phys_to_virt(info_phys) as *const BootInformationHeader;
    // SAFETY: GRUB passed a multiboot2 information structure at info_phys (the
    // magic says so); it lies in the first 4 GiB, which the boot page tables map
    // at the direct-map base, and nothing writes it while we read it.
    let mbi = unsafe { BootInformation::load(ptr) }.map_err(|_| BootInfoError::Unreadable)?;
    let mut info = BootInfo {
        cmdline: CmdLine::EMPTY,
        usable: [PhysRange { start: 0, end: 0 }; MAX_REGIONS],
        usable_count: 0,
        modules: [BootModule {
            range: PhysRange { start: 0, end: 0 },
            cmdline: CmdLine::EMPTY,
        }; MAX_MODULES],
        module_count: 0,
        info_range: PhysRange {
            start: info_phys,
            end: info_phys + mbi.total_size() as u64,
        },
        max_phys: 0,
    };
    if let Some(Ok(c)) = mbi.command_line_tag().map(|t| t.cmdline()) {
        info.cmdline = CmdLine::from_str(c);
    }
    let map = mbi.memory_map_tag().ok_or(BootInfoError::NoMemoryMap)?;
    for area in map.memory_areas() {
        if area.typ() != MemoryAreaType::Available || info.usable_count == MAX_REGIONS {
            continue;
        }
        let r = PhysRange {
            start: area.start_address(),
            end: area.end_address(),
        };
        info.max_phys = info.max_phys.max(r.end);
        info.usable[info.usable_count] = r;
        info.usable_count += 1;
    }
    for m in mbi.module_tags() {
        if info.module_count == MAX_MODULES {
            break;
        }
        info.modules[info.module_count] = BootModule {
            range: PhysRange {
                start: m.start_address() as u64,
                end: m.end_address() as u64,
            },
            cmdline: CmdLine::from_str(m.cmdline().unwrap_or("")),
        };
        info.module_count += 1;
    }
    Ok(info)
}
