//! The folder backend, through the public `Remote`, in temp dirs.

use crate::engine::remote::{ObjectInfo, Remote, RemoteConfig, RemoteError};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn folder(path: &Path) -> Remote {
    Remote::open(RemoteConfig::Folder {
        path: path.to_path_buf(),
    })
    .unwrap()
}

fn no_progress(_: u64) {}

/// Every file under `dir`, relative, including unfinished copies.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                // Joined with '/' like keys, also where paths use '\\'.
                let rel = p.strip_prefix(dir).unwrap().components();
                let parts: Vec<_> = rel.map(|c| c.as_os_str().to_string_lossy()).collect();
                out.push(parts.join("/"));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_file_goes_up_and_comes_back_identical() {
    let dest = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let from = local.path().join("data.sql.zst");
    std::fs::write(&from, &data).unwrap();
    let remote = folder(dest.path());
    let seen = Arc::new(AtomicU64::new(0));
    let s = seen.clone();
    let key = "shop/20261201T030000Z-full-1a2b3c4d/data.sql.zst";
    let sent = remote
        .put_file(key, &from, &move |n| s.store(n, Ordering::SeqCst))
        .await
        .unwrap();
    let expected = hex::encode(Sha256::digest(&data));
    assert_eq!(sent, expected);
    assert_eq!(seen.load(Ordering::SeqCst), data.len() as u64);
    assert_eq!(
        files_under(dest.path()),
        vec![key.to_string()],
        "no temp file left"
    );

    let back = local.path().join("back");
    let (size, hash) = remote.get_to_file(key, &back, &no_progress).await.unwrap();
    assert_eq!(
        (size, hash.as_str()),
        (data.len() as u64, expected.as_str())
    );
    assert_eq!(std::fs::read(&back).unwrap(), data);
    let again = remote.get_to_file(key, &back, &no_progress).await;
    assert!(
        again.is_err(),
        "an existing local file is never overwritten"
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dest.path().join(key)), 0o600);
        assert_eq!(mode(&dest.path().join("shop")), 0o700);
        assert_eq!(mode(&back), 0o600);
    }

    let mut r = remote.reader(key).await.unwrap();
    let all = tokio::task::spawn_blocking(move || {
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut r, &mut all).unwrap();
        all
    })
    .await
    .unwrap();
    assert_eq!(all, data);
    remote
        .put_bytes("notes.txt", b"hello".to_vec())
        .await
        .unwrap();
    assert_eq!(remote.get_bytes("notes.txt").await.unwrap(), b"hello");
}

#[tokio::test]
async fn listing_deleting_and_folders() {
    let dest = tempfile::tempdir().unwrap();
    let remote = folder(dest.path());
    for key in ["shop/s1/a", "shop/s1/b", "shop/s2/a", "blog/s1/x", "top"] {
        remote
            .put_bytes(key, key.as_bytes().to_vec())
            .await
            .unwrap();
    }
    // An unfinished copy is never listed.
    std::fs::write(dest.path().join("shop/s2/b.partial-123"), b"half").unwrap();

    let keys = |v: Vec<ObjectInfo>| v.into_iter().map(|o| o.key).collect::<Vec<_>>();
    assert_eq!(
        keys(remote.list("").await.unwrap()),
        ["blog/s1/x", "shop/s1/a", "shop/s1/b", "shop/s2/a", "top"]
    );
    let shop = remote.list("shop").await.unwrap();
    assert_eq!((shop[0].key.as_str(), shop[0].size), ("shop/s1/a", 9));
    let age = chrono::Utc::now() - shop[0].modified.unwrap();
    assert!(age.num_seconds().abs() < 600, "{age}");
    assert_eq!(
        keys(remote.list("shop/s1/").await.unwrap()),
        ["shop/s1/a", "shop/s1/b"]
    );
    assert!(remote.list("nothing").await.unwrap().is_empty());
    assert_eq!(remote.list_dirs("").await.unwrap(), ["blog", "shop"]);
    assert_eq!(remote.list_dirs("shop").await.unwrap(), ["s1", "s2"]);
    assert!(remote.list_dirs("nothing").await.unwrap().is_empty());

    assert!(remote.exists("shop/s1/a").await.unwrap());
    assert!(!remote.exists("shop/s1/zz").await.unwrap());
    assert!(
        !remote.exists("shop/s1").await.unwrap(),
        "a folder is not an object"
    );

    remote.delete("blog/s1/x").await.unwrap();
    remote.delete("blog/s1/x").await.unwrap();
    assert_eq!(
        remote.list_dirs("").await.unwrap(),
        ["shop"],
        "empty folders go too"
    );

    assert_eq!(remote.delete_prefix("shop/s2").await.unwrap(), 1);
    assert_eq!(remote.list_dirs("shop").await.unwrap(), ["s1"]);
    assert_eq!(remote.delete_prefix("shop/s9").await.unwrap(), 0);
    let e = remote.delete_prefix("").await.unwrap_err();
    assert!(matches!(e, RemoteError::InvalidKey { .. }), "{e}");
    assert_eq!(
        keys(remote.list("").await.unwrap()),
        ["shop/s1/a", "shop/s1/b", "top"]
    );
}

#[tokio::test]
async fn missing_objects_and_bad_keys_are_errors_in_words() {
    let dest = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let remote = folder(dest.path());
    let e = remote.get_bytes("shop/nope").await.unwrap_err();
    assert!(matches!(e, RemoteError::NotFound { .. }), "{e}");
    assert!(
        e.to_string().contains("shop/nope does not exist at folder"),
        "{e}"
    );
    let to = local.path().join("x");
    let e = remote
        .get_to_file("shop/nope", &to, &no_progress)
        .await
        .unwrap_err();
    assert!(matches!(e, RemoteError::NotFound { .. }), "{e}");
    assert!(!to.exists(), "no local file for a missing object");
    assert!(matches!(
        remote.reader("nope").await.err().unwrap(),
        RemoteError::NotFound { .. }
    ));
    let e = remote
        .put_file("a/b", &local.path().join("missing"), &no_progress)
        .await
        .unwrap_err();
    assert!(matches!(e, RemoteError::Io { .. }), "{e}");
    assert!(e.to_string().contains("read the file to copy"), "{e}");
    assert!(
        files_under(dest.path()).is_empty(),
        "nothing left: {:?}",
        files_under(dest.path())
    );
    let e = remote.put_bytes("../escape", vec![1]).await.unwrap_err();
    assert!(matches!(e, RemoteError::InvalidKey { .. }), "{e}");
}

#[tokio::test]
async fn test_passes_on_a_writable_folder_and_leaves_nothing() {
    let dest = tempfile::tempdir().unwrap();
    let said = folder(dest.path()).test().await.unwrap();
    assert!(
        said.contains("wrote, read back (identical) and deleted"),
        "{said}"
    );
    assert!(said.contains(&dest.path().display().to_string()), "{said}");
    assert!(files_under(dest.path()).is_empty());
    assert_eq!(
        std::fs::read_dir(dest.path()).unwrap().count(),
        0,
        "no folder left"
    );
}

#[tokio::test]
async fn test_says_a_missing_folder_is_missing() {
    let dest = tempfile::tempdir().unwrap();
    let gone = dest.path().join("usb-stick");
    let e = folder(&gone).test().await.unwrap_err();
    assert!(matches!(e, RemoteError::NoFolder { .. }), "{e}");
    assert!(e.to_string().contains("mounted"), "{e}");
    assert!(!gone.exists(), "the test never creates the folder itself");
    let file = dest.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let e = folder(&file).test().await.unwrap_err();
    assert!(matches!(e, RemoteError::NoFolder { .. }), "{e}");
    let e = folder(&gone).put_bytes("k", vec![1]).await.unwrap_err();
    assert!(matches!(e, RemoteError::NoFolder { .. }), "{e}");
}

#[cfg(unix)]
#[tokio::test]
async fn test_says_a_read_only_folder_is_not_writable() {
    // Imported here: only this Unix-only test uses it.
    use crate::engine::remote::Action;
    use std::os::unix::fs::PermissionsExt;
    let dest = tempfile::tempdir().unwrap();
    let ro = dest.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root writes through mode bits: use a read-only file system instead.
    let probe = ro.join("probe");
    let target = if std::fs::write(&probe, b"x").is_ok() {
        std::fs::remove_file(&probe).unwrap();
        Path::new("/sys").to_path_buf()
    } else {
        ro.clone()
    };
    let e = folder(&target).test().await.unwrap_err();
    assert!(
        matches!(
            e,
            RemoteError::Denied {
                action: Action::Write,
                ..
            }
        ),
        "{target:?}: {e:?}"
    );
    assert!(e.to_string().contains("writable"), "{e}");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_copy_leaves_no_half_file() {
    let dest = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let from = local.path().join("big");
    std::fs::write(&from, vec![7u8; 200 << 20]).unwrap();
    let remote = folder(dest.path());
    let seen = Arc::new(AtomicU64::new(0));
    let s = seen.clone();
    let progress = move |n| s.store(n, Ordering::SeqCst);
    let copy = remote.put_file("shop/s/big", &from, &progress);
    // Cut as soon as it has started (however slow the machine), by
    // dropping the copy: a cancel.
    let started = async {
        while seen.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    };
    tokio::select! {
        r = copy => panic!("the copy finished before it could be cut: {r:?}"),
        _ = started => {}
    }
    let left: Vec<_> = files_under(dest.path());
    assert!(left.is_empty(), "left behind: {left:?}");
}
