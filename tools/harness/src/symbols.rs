//! Kernel symbol table: reads code symbols from an ELF `.symtab` and maps an
//! address to `demangled_name+0xOFFSET`.
//!
//! Code symbols are `STT_FUNC` symbols plus untyped labels (`STT_NOTYPE`, as
//! emitted for assembly entry points) that live in an executable section.

use std::fmt;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind, SymbolSection};

/// One code symbol: its start address, size in bytes (0 if unknown) and raw
/// (possibly mangled) name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub addr: u64,
    pub size: u64,
    pub name: String,
}

/// Why a symbol table could not be built.
#[derive(Debug)]
pub enum SymbolError {
    /// The file could not be read.
    Io { path: PathBuf, source: std::io::Error },
    /// The file is not an object file we can parse.
    Parse { path: PathBuf, source: object::read::Error },
    /// The file parsed but holds no code symbols (stripped binary?).
    NoSymbols { path: PathBuf },
}

impl fmt::Display for SymbolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::Parse { path, source } => {
                write!(f, "cannot parse {} as ELF: {source}", path.display())
            }
            Self::NoSymbols { path } => {
                write!(f, "{} has no code symbols (stripped?)", path.display())
            }
        }
    }
}

impl std::error::Error for SymbolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Parse { source, .. } => Some(source),
            Self::NoSymbols { .. } => None,
        }
    }
}

/// Code symbols sorted by address (sized symbols first among equal addresses).
#[derive(Debug, Default)]
pub struct SymbolTable {
    symbols: Vec<Symbol>,
}

impl SymbolTable {
    /// Builds a table from symbols in any order.
    pub fn from_symbols(mut symbols: Vec<Symbol>) -> Self {
        symbols.sort_by(|a, b| {
            a.addr
                .cmp(&b.addr)
                .then(b.size.cmp(&a.size))
                .then_with(|| a.name.cmp(&b.name))
        });
        symbols.dedup();
        Self { symbols }
    }

    /// Reads the code symbols of the ELF file at `path`.
    pub fn load(path: &Path) -> Result<Self, SymbolError> {
        let data = std::fs::read(path).map_err(|source| SymbolError::Io {
            path: path.to_owned(),
            source,
        })?;
        let symbols = code_symbols(&data).map_err(|source| SymbolError::Parse {
            path: path.to_owned(),
            source,
        })?;
        if symbols.is_empty() {
            return Err(SymbolError::NoSymbols { path: path.to_owned() });
        }
        Ok(Self::from_symbols(symbols))
    }

    /// Finds the symbol covering `addr` and the offset of `addr` into it.
    ///
    /// Among the symbols with the greatest start address `<= addr`, a sized
    /// symbol that contains `addr` wins; failing that a size-0 symbol is
    /// accepted as "nearest preceding". An address past the end of a sized
    /// symbol with no later symbol resolves to nothing.
    pub fn lookup(&self, addr: u64) -> Option<(&Symbol, u64)> {
        let end = self.symbols.partition_point(|s| s.addr <= addr);
        let start_addr = self.symbols.get(end.checked_sub(1)?)?.addr;
        let group = self.symbols[..end].iter().rev().take_while(|s| s.addr == start_addr);
        let mut fallback = None;
        for sym in group {
            let offset = addr - sym.addr;
            if sym.size == 0 {
                fallback.get_or_insert((sym, offset));
            } else if offset < sym.size {
                return Some((sym, offset));
            }
        }
        fallback
    }

    /// Formats the symbol covering `addr` as `demangled_name+0xOFFSET`.
    pub fn describe(&self, addr: u64) -> Option<String> {
        let (sym, offset) = self.lookup(addr)?;
        Some(format!("{}+{offset:#x}", demangle(&sym.name)))
    }
}

/// Demangles a Rust symbol name (legacy or v0), dropping the hash suffix;
/// other names are returned unchanged.
pub fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

/// Extracts the code symbols from the raw bytes of an object file.
fn code_symbols(data: &[u8]) -> Result<Vec<Symbol>, object::read::Error> {
    let file = object::File::parse(data)?;
    let mut out = Vec::new();
    for sym in file.symbols() {
        if sym.is_undefined() || sym.address() == 0 {
            continue;
        }
        let SymbolSection::Section(index) = sym.section() else {
            continue;
        };
        let is_code = match sym.kind() {
            SymbolKind::Text => true,
            SymbolKind::Unknown => file
                .section_by_index(index)
                .is_ok_and(|s| s.kind() == SectionKind::Text),
            _ => false,
        };
        let Ok(name) = sym.name() else { continue };
        if !is_code || name.is_empty() || name.starts_with(".L") || name.starts_with('$') {
            continue;
        }
        out.push(Symbol {
            addr: sym.address(),
            size: sym.size(),
            name: name.to_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(addr: u64, size: u64, name: &str) -> Symbol {
        Symbol {
            addr,
            size,
            name: name.to_owned(),
        }
    }

    fn table() -> SymbolTable {
        SymbolTable::from_symbols(vec![
            sym(0x3000, 0, "asm_entry"),
            sym(0x1000, 0x100, "first"),
            sym(0x2000, 0x10, "second"),
            sym(0x2000, 0, "second_alias"),
            sym(0x4000, 0x20, "_ZN4mach4core5sched6switch17h0123456789abcdefE"),
        ])
    }

    #[test]
    fn lookup_inside_sized_symbol() {
        let t = table();
        let (s, off) = t.lookup(0x1042).expect("found");
        assert_eq!((s.name.as_str(), off), ("first", 0x42));
        assert_eq!(t.lookup(0x1000).map(|(s, o)| (s.addr, o)), Some((0x1000, 0)));
    }

    #[test]
    fn lookup_before_first_symbol_is_none() {
        assert!(table().lookup(0xfff).is_none());
        assert!(table().lookup(0).is_none());
    }

    #[test]
    fn lookup_past_sized_symbol_is_none() {
        assert!(table().lookup(0x1100).is_none());
        assert!(table().lookup(0x4020).is_none());
    }

    #[test]
    fn sized_symbol_preferred_over_alias_at_same_address() {
        let t = table();
        assert_eq!(t.lookup(0x2004).map(|(s, _)| s.name.as_str()), Some("second"));
        // Past the sized one, the size-0 alias still covers the address.
        assert_eq!(
            t.lookup(0x2010).map(|(s, o)| (s.name.as_str(), o)),
            Some(("second_alias", 0x10))
        );
    }

    #[test]
    fn size_zero_symbol_takes_nearest_preceding() {
        let t = table();
        assert_eq!(
            t.lookup(0x3fff).map(|(s, o)| (s.name.as_str(), o)),
            Some(("asm_entry", 0xfff))
        );
    }

    #[test]
    fn describe_demangles_and_drops_hash() {
        let t = table();
        assert_eq!(t.describe(0x4011).as_deref(), Some("mach::core::sched::switch+0x11"));
        assert_eq!(t.describe(0x1000).as_deref(), Some("first+0x0"));
        assert_eq!(t.describe(0x10), None);
    }

    #[test]
    fn empty_table_finds_nothing() {
        let t = SymbolTable::default();
        assert!(t.lookup(0x1000).is_none());
    }

    #[test]
    fn missing_file_is_io_error() {
        let err = SymbolTable::load(Path::new("/nonexistent/kernel.elf")).expect_err("missing");
        assert!(matches!(err, SymbolError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/kernel.elf"));
    }

    #[test]
    fn garbage_file_is_parse_error() {
        let path = std::env::temp_dir().join(format!("harness-garbage-{}", std::process::id()));
        std::fs::write(&path, b"definitely not an ELF file").expect("write temp file");
        let err = SymbolTable::load(&path).expect_err("garbage");
        let _ = std::fs::remove_file(&path);
        assert!(matches!(err, SymbolError::Parse { .. }), "{err:?}");
    }
}
