//! Which shared libraries a program loads: ELF `DT_NEEDED`, PE imports and
//! Mach-O `LC_LOAD_DYLIB`, read with goblin. Used to keep only what the
//! client programs need from an archive of a whole PostgreSQL install.

use goblin::Object;
use goblin::mach::Mach;

/// The file names of the libraries `bytes` (a program or a library) asks
/// the loader for; empty for a file that is none of the three formats.
pub fn needed_libraries(bytes: &[u8]) -> Result<Vec<String>, String> {
    let object = Object::parse(bytes).map_err(|e| e.to_string())?;
    let names: Vec<String> = match object {
        Object::Elf(elf) => elf.libraries.iter().map(|s| s.to_string()).collect(),
        Object::PE(pe) => pe.libraries.iter().map(|s| s.to_string()).collect(),
        Object::Mach(Mach::Binary(macho)) => dylibs(&macho),
        Object::Mach(Mach::Fat(fat)) => {
            let mut all = Vec::new();
            for i in 0..fat.narches {
                if let Ok(goblin::mach::SingleArch::MachO(m)) = fat.get(i) {
                    all.extend(dylibs(&m));
                }
            }
            all
        }
        _ => Vec::new(),
    };
    Ok(names)
}

/// A Mach-O file's libraries by file name (`@rpath/libpq.5.dylib` →
/// `libpq.5.dylib`); goblin lists the file itself first as "self".
fn dylibs(macho: &goblin::mach::MachO) -> Vec<String> {
    macho
        .libs
        .iter()
        .filter(|l| **l != "self")
        .map(|l| l.rsplit('/').next().unwrap_or(l).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_libraries_of_this_test_program() {
        // The running test binary is an ELF, PE or Mach-O file of this system.
        let me = std::env::current_exe().unwrap();
        let bytes = std::fs::read(me).unwrap();
        let libs = needed_libraries(&bytes).unwrap();
        assert!(!libs.is_empty(), "no libraries read from the test binary");
        #[cfg(target_os = "linux")]
        assert!(libs.iter().any(|l| l.starts_with("libc.so")), "{libs:?}");
    }

    #[test]
    fn something_else_needs_nothing_or_is_refused() {
        assert!(needed_libraries(b"#!/bin/sh\necho hi\n").is_err_or_empty());
    }

    trait ErrOrEmpty {
        fn is_err_or_empty(&self) -> bool;
    }

    impl ErrOrEmpty for Result<Vec<String>, String> {
        fn is_err_or_empty(&self) -> bool {
            self.as_ref().map(|v| v.is_empty()).unwrap_or(true)
        }
    }
}
