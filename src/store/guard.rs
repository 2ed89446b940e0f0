//! Keeping a damaged file's effects inside the store. A damaged catalog can
//! make redb return a corruption error, or panic (on open, or reading a
//! table); both become `StoreError::Damaged` instead of a crash.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

thread_local! {
    /// How many `catch` calls this thread is inside.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The last panic seen inside `catch`, for its message and place.
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

static QUIET_HOOK: Once = Once::new();

/// Installs, once, a panic hook that keeps quiet about panics caught by
/// `catch` (they are reported as a damaged catalog) and hands every other
/// panic to the hook that was there before.
fn install_quiet_hook() {
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) > 0 {
                let text = describe(info);
                LAST.with(|last| *last.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

/// "message at redb-x.y.z/src/file.rs:line".
fn describe(info: &PanicHookInfo<'_>) -> String {
    let message = payload_text(info.payload());
    match info.location() {
        Some(at) => {
            let file = at.file();
            let short = file.find("redb-").map_or(file, |i| &file[i..]);
            format!("{message} at {short}:{}", at.line())
        }
        None => message,
    }
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "no message".to_string()
    }
}

/// Runs `f`; a panic inside it comes back as `Err` with its message, and is
/// not printed.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_quiet_hook();
    DEPTH.with(|d| d.set(d.get() + 1));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    result.map_err(|payload| {
        LAST.with(|last| last.borrow_mut().take())
            .unwrap_or_else(|| payload_text(payload.as_ref()))
    })
}

/// What is damaged, when a redb error means the file is damaged rather than
/// busy, unreadable for lack of rights, or out of space.
pub fn damage(e: &redb::Error) -> Option<String> {
    use std::io::ErrorKind;
    match e {
        redb::Error::Corrupted(_)
        | redb::Error::UpgradeRequired(_)
        | redb::Error::TableTypeMismatch { .. }
        | redb::Error::TypeDefinitionChanged { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TableIsNotMultimap(_) => Some(e.to_string()),
        // redb's "not a redb database" and a file cut short.
        redb::Error::Io(io)
            if matches!(io.kind(), ErrorKind::InvalidData | ErrorKind::UnexpectedEof) =>
        {
            Some(e.to_string())
        }
        // Only after an earlier panic inside redb.
        redb::Error::LockPoisoned(_) => Some("an earlier read of the file failed".to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_message() {
        let r: Result<(), String> = catch(|| panic!("page 7 is not a page"));
        let text = r.unwrap_err();
        assert!(text.contains("page 7 is not a page"), "{text}");
        assert_eq!(catch(|| 5).unwrap(), 5);
    }

    #[test]
    fn corruption_is_damage_and_permissions_are_not() {
        let corrupted = redb::Error::Corrupted("bad checksum".into());
        assert!(damage(&corrupted).unwrap().contains("bad checksum"));
        let not_redb = redb::Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "Not a redb database: magic number mismatch",
        ));
        assert!(damage(&not_redb).is_some());
        let denied = redb::Error::Io(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert!(damage(&denied).is_none());
    }
}
