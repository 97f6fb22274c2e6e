//! Rebuild when a migration is added or edited: `sqlx::migrate!` embeds them at compile time.
//! Also embeds the web UI: every file of `ui/` becomes an entry of `UI_FILES` in
//! `$OUT_DIR/ui_files.rs` (name, bytes through `include_bytes!`), so the binary serves the UI
//! with no file next to it and no build step beyond cargo's.
use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=ui");

    // Read at run time: a build script binary can be reused by a checkout at another path.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let ui = Path::new(&manifest_dir).join("ui");
    let mut files: Vec<_> = std::fs::read_dir(&ui)
        .expect("collector/ui exists")
        .map(|e| e.expect("readable ui/ entry").path())
        .filter(|p| p.is_file())
        .collect();
    // Stable order: the UI's version hash is computed over this list.
    files.sort();
    let mut out = String::from("pub static UI_FILES: &[(&str, &[u8])] = &[\n");
    for path in files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .file_name()
            .unwrap()
            .to_str()
            .expect("UTF-8 file names in ui/");
        writeln!(
            out,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("ui_files.rs");
    std::fs::write(dest, out).expect("write ui_files.rs");
}
