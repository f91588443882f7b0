//! ELF symbol tables: finding SHT_SYMTAB through the section headers, iterating its
//! entries and symbolising addresses (used on the host and for kernel backtraces).
//!
//! Like the rest of [`crate::elf`], every read is bounds-checked; malformed entries are
//! skipped and malformed tables are reported as [`ElfError`]s.

use super::{
    ElfError, ElfFile, SHDR_SIZE, SHN_UNDEF, SHT_STRTAB, SHT_SYMTAB, STT_FUNC, SYM_SIZE, read_u16, read_u32, read_u64,
    section_bytes, table_range,
};

impl<'a> ElfFile<'a> {
    /// Symbols of the first SHT_SYMTAB section (found through the section headers,
    /// whose entry size must be 64), with names from its `sh_link` string table.
    pub fn symbols(&self) -> Result<Symbols<'a>, ElfError> {
        if self.shnum == 0 {
            return Err(ElfError::NoSymbolTable);
        }
        if self.shentsize != SHDR_SIZE {
            return Err(ElfError::BadSectionHeaders);
        }
        let table = table_range(self.data, self.shoff, SHDR_SIZE, self.shnum).ok_or(ElfError::BadSectionHeaders)?;
        let symtab = table
            .chunks_exact(usize::from(SHDR_SIZE))
            .find(|sh| read_u32(sh, 4) == Some(SHT_SYMTAB))
            .ok_or(ElfError::NoSymbolTable)?;
        let bad = ElfError::BadSymbolTable;
        if read_u64(symtab, 56) != Some(SYM_SIZE as u64) {
            return Err(bad);
        }
        let syms = section_bytes(self.data, symtab).ok_or(bad)?;
        let link = read_u32(symtab, 40).ok_or(bad)?;
        let link = usize::try_from(link).map_err(|_| bad)?;
        let strtab_off = link.checked_mul(usize::from(SHDR_SIZE)).ok_or(bad)?;
        let strtab_hdr = table
            .get(strtab_off..)
            .and_then(|t| t.get(..usize::from(SHDR_SIZE)))
            .ok_or(bad)?;
        if read_u32(strtab_hdr, 4) != Some(SHT_STRTAB) {
            return Err(bad);
        }
        let strtab = section_bytes(self.data, strtab_hdr).ok_or(bad)?;
        Ok(Symbols { syms, strtab, index: 0 })
    }
}

/// A symbol table entry. `name` is raw bytes without the NUL terminator.
#[derive(Clone, Copy, Debug)]
pub struct Symbol<'a> {
    pub name: &'a [u8],
    pub value: u64,
    pub size: u64,
    pub is_function: bool,
}

/// Iterator over a symbol table. Skips the reserved null entry and malformed entries
/// (name offset outside the string table, or name not NUL-terminated).
#[derive(Clone, Debug)]
pub struct Symbols<'a> {
    syms: &'a [u8],
    strtab: &'a [u8],
    index: usize,
}

impl<'a> Symbols<'a> {
    /// Next well-formed symbol together with its section index (`st_shndx`).
    fn next_with_section(&mut self) -> Option<(Symbol<'a>, u16)> {
        loop {
            let off = self.index.checked_mul(SYM_SIZE)?;
            let entry = self.syms.get(off..)?.get(..SYM_SIZE)?;
            self.index = self.index.checked_add(1)?;
            if off == 0 {
                continue; // STN_UNDEF
            }
            let (Some(name_off), Some(info), Some(shndx), Some(value), Some(size)) = (
                read_u32(entry, 0),
                entry.get(4).copied(),
                read_u16(entry, 6),
                read_u64(entry, 8),
                read_u64(entry, 16),
            ) else {
                continue;
            };
            let Some(name) = usize::try_from(name_off)
                .ok()
                .and_then(|o| self.strtab.get(o..))
                .and_then(|rest| rest.get(..rest.iter().position(|&b| b == 0)?))
            else {
                continue;
            };
            let sym = Symbol {
                name,
                value,
                size,
                is_function: info & 0xf == STT_FUNC,
            };
            return Some((sym, shndx));
        }
    }
}

impl<'a> Iterator for Symbols<'a> {
    type Item = Symbol<'a>;
    fn next(&mut self) -> Option<Symbol<'a>> {
        self.next_with_section().map(|(s, _)| s)
    }
}

/// Finds the defined function symbol containing `addr` (`value <= addr < value + size`;
/// the innermost if several do) and returns it with `addr - value`. If none contains
/// it, the nearest preceding function is used when its size is 0 (e.g. assembly
/// labels). Returns `None` if there is no match or no usable symbol table.
pub fn lookup_symbol<'a>(elf: &ElfFile<'a>, addr: u64) -> Option<(Symbol<'a>, u64)> {
    let mut syms = elf.symbols().ok()?;
    let mut containing: Option<Symbol<'a>> = None;
    let mut preceding: Option<Symbol<'a>> = None;
    while let Some((sym, shndx)) = syms.next_with_section() {
        if !sym.is_function || shndx == SHN_UNDEF || sym.value > addr {
            continue;
        }
        let inside = sym.value.checked_add(sym.size).is_none_or(|end| addr < end);
        if sym.size != 0 && inside && containing.is_none_or(|c| sym.value > c.value) {
            containing = Some(sym);
        }
        let better = preceding.is_none_or(|p| sym.value > p.value || (sym.value == p.value && sym.size != 0));
        if better {
            preceding = Some(sym);
        }
    }
    let found = containing.or(preceding.filter(|p| p.size == 0))?;
    Some((found, addr.checked_sub(found.value)?))
}

#[cfg(test)]
mod tests;
