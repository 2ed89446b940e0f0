//! Encrypted backup sets: age (age-encryption.org/v1), compress then
//! encrypt; verified without the key, restored with it (refused, target
//! untouched, with a wrong one), opened by hand with Debian's `age`, and
//! nothing about the data readable outside the `.age` files.

use crate::cli::Sb;
use crate::pg::{PgCluster, SUPERUSER_PASSWORD};
use crate::sections::{POST_DATA_APP, assert_same_dump, dir_of};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `age-keygen -o FILE`; returns the public key.
fn age_keygen(file: &Path) -> String {
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(file)
        .output()
        .expect("age-keygen (apt-get install age)");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stderr)
        .trim()
        .strip_prefix("Public key: ")
        .unwrap()
        .to_string()
}

/// Every file of a folder, by name.
fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

/// True when `needle` is in `hay`.
fn has(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A copy of a set folder, to damage.
fn copy_set(dir: &Path, to: &Path) -> PathBuf {
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(dir)
            .arg(to)
            .status()
            .unwrap()
            .success()
    );
    to.to_path_buf()
}

/// The names the test database's data would give away.
const SECRETS_OF_THE_DATA: &[&str] = &[
    "customers",
    "orders",
    "refunds",
    "app_clerk",
    "invoice_no",
    "order_totals",
    "127.0.0.1",
];

#[test]
fn a_set_encrypted_to_age_keys_verifies_without_them_and_restores_with_them() {
    let src = PgCluster::start();
    let dst = PgCluster::start();
    src.psql("postgres", POST_DATA_APP);
    let sb = Sb::new();
    let keys = sb.tmp.path();
    // One key from Debian's age-keygen, one from supabackup itself.
    let pub1 = age_keygen(&keys.join("key.txt"));
    let generated = sb
        .run(&[
            "key",
            "generate",
            "--out",
            keys.join("mine.txt").to_str().unwrap(),
        ])
        .ok();
    let pub2 = generated.stdout.trim().to_string();
    assert!(pub2.starts_with("age1"), "{}", generated.stdout);
    assert!(generated.stderr.contains("Keep it safe"));
    let mode = std::fs::metadata(keys.join("mine.txt")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let other = age_keygen(&keys.join("wrong.txt"));
    assert_ne!(other, pub1);

    sb.run(&[
        "project",
        "add",
        "--name",
        "Shop",
        "--db-url",
        &src.url("postgres"),
        "--encrypt-to",
        &pub1,
        "--encrypt-to",
        &pub2,
    ])
    .ok();
    let shown = sb.run(&["project", "show", "Shop"]).ok();
    assert!(shown.stdout.contains(&pub1), "{}", shown.stdout);
    let b = sb.backup("Shop", &["--profile", "postgres"]);
    let id = b["id"].as_str().unwrap().to_string();
    let dir = dir_of(&b);
    assert_eq!(
        files(&dir),
        [
            "SHA256SUMS",
            "data.sql.zst.age",
            "details.json.age",
            "manifest.json",
            "post-data.sql.zst.age",
            "pre-data.sql.zst.age",
            "roles.sql.zst.age",
        ]
    );
    // Nothing about the data is readable in the set, encrypted parts
    // included.
    let mut everything = Vec::new();
    for f in files(&dir) {
        everything.extend(std::fs::read(dir.join(f)).unwrap());
    }
    for name in SECRETS_OF_THE_DATA {
        assert!(
            !has(&everything, name),
            "{name} is readable in the encrypted set"
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["encryption"]["mode"], "recipients");
    assert_eq!(
        manifest["encryption"]["recipients"],
        serde_json::json!([pub1, pub2])
    );

    // Without the key: every checksum.
    let v = sb.run(&["verify", &id]).ok();
    assert!(v.stdout.contains("every checksum matches"), "{}", v.stdout);
    assert!(v.stdout.contains("--identity"));
    // With it: decrypted and decompressed to the end.
    let key = keys.join("key.txt");
    let v = sb
        .run(&["verify", &id, "--identity", key.to_str().unwrap()])
        .ok();
    assert!(v.stdout.contains("every part decompresses"), "{}", v.stdout);

    // A wrong key (or none) is refused before the target changes.
    dst.psql(
        "postgres",
        "CREATE TABLE keep_me (x int); INSERT INTO keep_me VALUES (7)",
    );
    let before = dst.dump_text("postgres");
    let wrong = keys.join("wrong.txt");
    // Verify with a wrong key blames the key, not the backup.
    let v = sb
        .run(&["verify", &id, "--identity", wrong.to_str().unwrap()])
        .expect_code(1);
    assert!(
        v.stderr.contains("the key given does not open this backup")
            && v.stderr.contains("it is not damaged"),
        "{}",
        v.stderr
    );
    assert!(!v.stdout.contains("DAMAGED"), "{}", v.stdout);
    assert!(
        v.stdout.contains("KEY      pre-data.sql.zst.age"),
        "{}",
        v.stdout
    );
    let r = sb
        .run(&[
            "restore",
            &id,
            "--to-url",
            &dst.url("postgres"),
            "--yes",
            "--identity",
            wrong.to_str().unwrap(),
        ])
        .expect_code(1);
    assert!(r.stderr.contains("wrong key"), "{}", r.stderr);
    let r = sb
        .run_env(
            &["restore", &id, "--to-url", &dst.url("postgres"), "--yes"],
            &[],
        )
        .expect_code(1);
    assert!(r.stderr.contains("--identity"), "{}", r.stderr);
    assert_eq!(dst.dump_text("postgres"), before, "the target is untouched");
    dst.psql("postgres", "DROP TABLE keep_me");

    // The right one restores the database.
    let r = sb
        .run(&[
            "restore",
            &id,
            "--to-url",
            &dst.url("postgres"),
            "--identity",
            keys.join("mine.txt").to_str().unwrap(),
        ])
        .ok();
    assert!(r.stdout.contains("Restored backup"), "{}", r.stdout);
    assert_same_dump(&src.dump_text("postgres"), &dst.dump_text("postgres"));

    // By hand, with standard tools only.
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(check.status.success());
    dst.create_db("by_hand");
    let out = Command::new("bash")
        .args([
            "-o",
            "pipefail",
            "-c",
            "for p in roles pre-data data post-data; do age -d -i \"$KEY\" $p.sql.zst.age | zstd -dc; done \
             | psql -X -q -v ON_ERROR_STOP=1 --single-transaction \"$TARGET\"",
        ])
        .current_dir(&dir)
        .env("KEY", &key)
        .env("PATH", format!("{}:{}", src.bin.display(), std::env::var("PATH").unwrap()))
        .env("PGPASSWORD", SUPERUSER_PASSWORD)
        .env("TARGET", format!("postgresql://postgres@127.0.0.1:{}/by_hand", dst.port))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same_dump(&src.dump_text("postgres"), &dst.dump_text("by_hand"));
    let details = Command::new("age")
        .args(["-d", "-i"])
        .arg(&key)
        .arg(dir.join("details.json.age"))
        .output()
        .unwrap();
    let details: serde_json::Value = serde_json::from_slice(&details.stdout).unwrap();
    assert!(details["tables"].to_string().contains("customers"));

    // Damage: a flipped byte or a cut file is caught by verify without the
    // key (checksums); with the checksums rewritten to match, by age itself.
    let tmp = tempfile::tempdir().unwrap();
    let bad = copy_set(&dir, &tmp.path().join("flipped"));
    let data = bad.join("data.sql.zst.age");
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&data, &bytes).unwrap();
    let v = sb.run(&["verify", bad.to_str().unwrap()]).expect_code(1);
    assert!(v.stdout.contains("data.sql.zst.age"), "{}", v.stdout);
    rewrite_checksums(&bad);
    let v = sb
        .run(&[
            "verify",
            bad.to_str().unwrap(),
            "--identity",
            key.to_str().unwrap(),
        ])
        .expect_code(1);
    assert!(v.stdout.contains("does not authenticate"), "{}", v.stdout);
    let cut = copy_set(&dir, &tmp.path().join("cut"));
    let post = cut.join("post-data.sql.zst.age");
    let bytes = std::fs::read(&post).unwrap();
    std::fs::write(&post, &bytes[..bytes.len() - 20]).unwrap();
    let v = sb.run(&["verify", cut.to_str().unwrap()]).expect_code(1);
    assert!(v.stdout.contains("truncated"), "{}", v.stdout);
    rewrite_checksums(&cut);
    let v = sb
        .run(&[
            "verify",
            cut.to_str().unwrap(),
            "--identity",
            key.to_str().unwrap(),
        ])
        .expect_code(1);
    assert!(v.stdout.contains("cannot be decrypted"), "{}", v.stdout);

    // The catalog comes back from the manifests, encrypted sets included.
    std::fs::remove_file(sb.data_dir().join("catalog.redb")).unwrap();
    let rebuilt = sb.run(&["catalog", "rebuild", "--json"]).ok().json();
    assert_eq!(rebuilt["restored"], 1, "{rebuilt}");
    sb.run(&["verify", &id, "--identity", key.to_str().unwrap()])
        .ok();
}

/// Rewrites a set's size and checksum records after a test changed a part,
/// so only the part's own format can notice.
fn rewrite_checksums(dir: &Path) {
    let manifest_path = dir.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    for p in m["parts"].as_array_mut().unwrap() {
        let bytes = std::fs::read(dir.join(p["file"].as_str().unwrap())).unwrap();
        p["bytes"] = serde_json::json!(bytes.len());
        p["sha256"] = serde_json::json!(sha256(&bytes));
    }
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let sums = Command::new("sh")
        .arg("-c")
        .arg("sha256sum *.age manifest.json > SHA256SUMS")
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(sums.success());
}

fn sha256(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn a_passphrase_set_restores_from_the_vault_and_opens_by_hand_with_age() {
    let src = PgCluster::start();
    let dst = PgCluster::start();
    src.psql("postgres", POST_DATA_APP);
    let sb = Sb::new();
    let pass = "a long backup passphrase";
    let short = sb
        .run_env(
            &[
                "project",
                "add",
                "--name",
                "Shop",
                "--db-url",
                &src.url("postgres"),
                "--encrypt-passphrase",
            ],
            &[("SUPABACKUP_BACKUP_PASSPHRASE", "short")],
        )
        .expect_code(2);
    assert!(short.stderr.contains("at least 12"), "{}", short.stderr);
    // Refused whole: nothing was added (before, a project without
    // encryption was left behind).
    sb.run(&["project", "show", "Shop"]).expect_code(2);
    sb.run_env(
        &[
            "project",
            "add",
            "--name",
            "Shop",
            "--db-url",
            &src.url("postgres"),
            "--encrypt-passphrase",
        ],
        &[("SUPABACKUP_BACKUP_PASSPHRASE", pass)],
    )
    .ok();
    // Unattended: the passphrase is in the vault, nothing is asked.
    let b = sb.backup("Shop", &["--profile", "postgres"]);
    let id = b["id"].as_str().unwrap().to_string();
    let dir = dir_of(&b);
    assert!(dir.join("data.sql.zst.age").is_file());
    crate::cli::assert_no_secret("the data dir", sb.all_bytes(), pass);

    // The same machine restores with the vault's passphrase.
    sb.run(&["restore", &id, "--to-url", &dst.url("postgres")])
        .ok();
    assert_same_dump(&src.dump_text("postgres"), &dst.dump_text("postgres"));

    // A copied folder with a wrong passphrase is refused.
    dst.create_db("other");
    let r = sb
        .run_env(
            &[
                "restore",
                dir.to_str().unwrap(),
                "--to-url",
                &dst.url("other"),
            ],
            &[("SUPABACKUP_BACKUP_PASSPHRASE", "not the passphrase at all")],
        )
        .expect_code(1);
    assert!(r.stderr.contains("wrong passphrase"), "{}", r.stderr);

    // By hand: age asks for the passphrase on a terminal (script gives it one).
    dst.create_db("by_hand");
    let out = Command::new("bash")
        .args([
            "-o",
            "pipefail",
            "-c",
            "set -e; for p in roles pre-data data post-data; do \
               printf '%s\\n' \"$PASS\" | script -qec \"age -d -o $TMP/$p.sql.zst $p.sql.zst.age\" /dev/null > /dev/null; \
             done; \
             for p in roles pre-data data post-data; do zstd -dc $TMP/$p.sql.zst; done \
             | psql -X -q -v ON_ERROR_STOP=1 --single-transaction \"$TARGET\"",
        ])
        .current_dir(&dir)
        .env("PASS", pass)
        .env("TMP", sb.tmp.path())
        .env("PATH", format!("{}:{}", src.bin.display(), std::env::var("PATH").unwrap()))
        .env("PGPASSWORD", SUPERUSER_PASSWORD)
        .env("TARGET", format!("postgresql://postgres@127.0.0.1:{}/by_hand", dst.port))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same_dump(&src.dump_text("postgres"), &dst.dump_text("by_hand"));
}

#[test]
fn an_identity_kept_in_the_vault_restores_without_asking() {
    let src = PgCluster::start();
    let dst = PgCluster::start();
    src.psql("postgres", POST_DATA_APP);
    let sb = Sb::new();
    let key = sb.tmp.path().join("key.txt");
    let public = age_keygen(&key);
    sb.add_project("Shop", &src.url("postgres"));
    sb.run(&[
        "project",
        "edit",
        "Shop",
        "--encrypt-to",
        &public,
        "--store-identity",
        key.to_str().unwrap(),
    ])
    .ok();
    let b = sb.backup("Shop", &["--profile", "postgres"]);
    let id = b["id"].as_str().unwrap().to_string();
    std::fs::remove_file(&key).unwrap();
    sb.run(&["restore", &id, "--to-url", &dst.url("postgres")])
        .ok();
    assert_same_dump(&src.dump_text("postgres"), &dst.dump_text("postgres"));
    // Turning encryption off leaves the sets made before it encrypted.
    sb.run(&[
        "project",
        "edit",
        "Shop",
        "--no-encryption",
        "--forget-identity",
    ])
    .ok();
    let plain = sb.backup("Shop", &["--profile", "postgres"]);
    assert!(dir_of(&plain).join("data.sql.zst").is_file());
    assert!(dir_of(&b).join("data.sql.zst.age").is_file());
}
