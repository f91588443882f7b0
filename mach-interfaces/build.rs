//! Build script of `mach-interfaces`: runs `mig` over `../interfaces/*.defs`
//! (one `<subsystem>.rs` per file in `OUT_DIR`, included by `src/lib.rs`) and
//! over `tests/defs/*.defs` (into `OUT_DIR/tests/`, included by the
//! integration tests only).

use std::path::{Path, PathBuf};

fn run(defs_dir: &Path, out_dir: &Path) {
    println!("cargo:rerun-if-changed={}", defs_dir.display());
    if let Err(e) = std::fs::create_dir_all(out_dir) {
        eprintln!("error: creating {}: {e}", out_dir.display());
        std::process::exit(1);
    }
    match mig::generate_files(defs_dir, out_dir) {
        Ok(modules) => {
            for m in modules {
                println!("cargo:rerun-if-changed={}", m.defs_path.display());
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let interfaces = manifest.join("../interfaces");
    let interfaces = interfaces.canonicalize().unwrap_or(interfaces);
    run(&interfaces, &out);
    run(&manifest.join("tests/defs"), &out.join("tests"));
}
