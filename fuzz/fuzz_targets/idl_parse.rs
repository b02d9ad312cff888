//! Fuzz target: arbitrary text parsed and checked as an IDL file, from memory.
//!
//! The input (made UTF-8 lossily, so that every input counts) is the file `main.idl` of a
//! `MemoryFileSystem`, checked with `idl::load_from`: the disk is never read, whatever the
//! imports say. The same text is also there as `copy.idl`, so that `import "copy.idl";`
//! gives the checker a second file (duplicates across files, names resolved through
//! an import, cycles). Errors are rendered as text, which maps spans to lines and
//! columns. Checking may fail but never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut fs = idl::MemoryFileSystem::new();
    fs.insert("main.idl", text.as_ref());
    fs.insert("copy.idl", text.as_ref());
    match idl::load_from(&fs, &["main.idl"]) {
        Ok(model) => {
            assert!(
                !model.packages.is_empty(),
                "a checked file declares a package"
            );
        }
        Err(idl::Error::Invalid(diagnostics)) => {
            assert!(!diagnostics.is_empty(), "an invalid file has a diagnostic");
            let rendered = diagnostics.to_string();
            for diagnostic in diagnostics.iter() {
                std::hint::black_box(diagnostic.location());
            }
            std::hint::black_box(rendered);
        }
        Err(e @ idl::Error::Read { .. }) => panic!("main.idl is in memory: {e}"),
    }
});
