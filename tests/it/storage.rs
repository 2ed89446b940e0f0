//! Supabase Storage files, end to end through the real binary: the S3 path
//! against a real S3-protocol server (s3s-fs; a "project's Storage" is a
//! set of buckets on one server, filled by the test with an independent S3
//! client), the REST path against the local server of `storage_rest`
//! (only the documented endpoints), each with a real PostgreSQL.

use crate::cli::{Run, Sb, assert_no_secret};
use crate::pg::PgCluster;
use crate::s3::S3Server;
use crate::storage_rest::RestServer;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as StorePath;
use object_store::{
    Attribute, AttributeValue, Attributes, ObjectStore, ObjectStoreExt, PutPayload,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The Storage tables a Supabase database has, as far as these tests need:
/// bucket settings (S3 does not carry them) and one row per object (what
/// the drill counts).
const STORAGE_SCHEMA: &str = r#"
CREATE SCHEMA storage;
CREATE TABLE storage.buckets (id text PRIMARY KEY, name text NOT NULL, public boolean DEFAULT false,
    file_size_limit bigint, allowed_mime_types text[]);
CREATE TABLE storage.objects (id bigserial PRIMARY KEY, bucket_id text REFERENCES storage.buckets,
    name text NOT NULL, metadata jsonb, UNIQUE (bucket_id, name));
"#;

/// An object of a fixture.
#[derive(Clone)]
struct Fixture {
    bucket: &'static str,
    name: String,
    bytes: Vec<u8>,
    content_type: &'static str,
    cache_control: &'static str,
    meta: Option<(&'static str, &'static str)>,
}

/// What a bucket set holds, object by object: (bucket, name) → (SHA-256,
/// content type, cache control, metadata).
type Snapshot = BTreeMap<
    (String, String),
    (
        String,
        Option<String>,
        Option<String>,
        Vec<(String, String)>,
    ),
>;

/// Not compressible, not repeating.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The objects of the S3 tests: nested folders, an empty file, names with
/// spaces and non-ASCII characters, a 20 MB file, HTML, metadata, and
/// `many` small files in one bucket.
fn fixture(many: usize, big: usize) -> Vec<Fixture> {
    let f = |bucket, name: &str, bytes: Vec<u8>, ct, cc, meta| Fixture {
        bucket,
        name: name.to_string(),
        bytes,
        content_type: ct,
        cache_control: cc,
        meta,
    };
    let mut v = vec![
        f(
            "avatars",
            "users/42/deep/er/profile.png",
            noise(3000, 1),
            "image/png",
            "max-age=3600",
            Some(("owner", "42")),
        ),
        f(
            "avatars",
            "empty.txt",
            Vec::new(),
            "text/plain",
            "no-cache",
            None,
        ),
        f(
            "avatars",
            "with space/my file (1).txt",
            b"spaces in names\n".repeat(50),
            "text/plain",
            "max-age=60",
            None,
        ),
        f(
            "avatars",
            "ünïcødé/café – naïve.txt",
            "déjà vu\n".repeat(40).into_bytes(),
            "text/plain; charset=utf-8",
            "no-cache",
            Some(("note", "ascii only")),
        ),
        f(
            "avatars",
            "index.html",
            b"<html><body>hi</body></html>\n".repeat(20),
            "text/html",
            "max-age=300",
            None,
        ),
        f(
            "docs",
            "big/video.bin",
            noise(big, 2),
            "application/octet-stream",
            "max-age=86400",
            None,
        ),
        f(
            "docs",
            "readme.txt",
            b"version one\n".repeat(100),
            "text/markdown",
            "no-cache",
            None,
        ),
    ];
    for i in 0..many {
        v.push(f(
            "many",
            &format!("n/{:02}/{i:05}.json", i % 7),
            format!("{{\"i\":{i}}}\n").into_bytes(),
            "application/json",
            "max-age=10",
            None,
        ));
    }
    v
}

fn runtime() -> tokio::runtime::Runtime {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// An independent S3 client (object_store) on one bucket of `server`.
fn bucket_store(server: &S3Server, bucket: &str) -> AmazonS3 {
    AmazonS3Builder::new()
        .with_endpoint(&server.endpoint)
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_region("us-east-1")
        .with_bucket_name(bucket)
        .with_access_key_id(&server.access_key)
        .with_secret_access_key(&server.secret_key)
        .build()
        .unwrap()
}

/// Puts the objects into their buckets (made as s3s-fs makes them: a folder).
fn seed(rt: &tokio::runtime::Runtime, server: &S3Server, objects: &[Fixture]) {
    for o in objects {
        std::fs::create_dir_all(server.dir().join(o.bucket)).unwrap();
    }
    rt.block_on(async {
        futures::stream::iter(objects.iter().cloned().map(|o| {
            let store = bucket_store(server, o.bucket);
            async move { put(&store, &o).await }
        }))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    });
}

async fn put(store: &AmazonS3, o: &Fixture) {
    let mut attrs = Attributes::new();
    attrs.insert(Attribute::ContentType, AttributeValue::from(o.content_type));
    attrs.insert(
        Attribute::CacheControl,
        AttributeValue::from(o.cache_control),
    );
    if let Some((k, v)) = o.meta {
        attrs.insert(Attribute::Metadata(k.into()), AttributeValue::from(v));
    }
    store
        .put_opts(
            &StorePath::parse(&o.name).unwrap(),
            PutPayload::from(o.bytes.clone()),
            attrs.into(),
        )
        .await
        .unwrap();
}

/// Every object of `buckets` on `server`, read back with the independent client.
fn snapshot(rt: &tokio::runtime::Runtime, server: &S3Server, buckets: &[&str]) -> Snapshot {
    rt.block_on(async {
        let mut out = Snapshot::new();
        for b in buckets {
            let store = bucket_store(server, b);
            let metas: Vec<_> = store.list(None).try_collect().await.unwrap();
            for m in metas {
                let got = store.get(&m.location).await.unwrap();
                let attrs = got.attributes.clone();
                let bytes = got.bytes().await.unwrap();
                let text = |a: &Attribute| attrs.get(a).map(|v| v.as_ref().to_string());
                let mut meta: Vec<(String, String)> = attrs
                    .iter()
                    .filter_map(|(k, v)| match k {
                        Attribute::Metadata(k) => Some((k.to_string(), v.as_ref().to_string())),
                        _ => None,
                    })
                    .collect();
                meta.sort();
                out.insert(
                    (b.to_string(), m.location.to_string()),
                    (
                        hex::encode(Sha256::digest(&bytes)),
                        text(&Attribute::ContentType),
                        text(&Attribute::CacheControl),
                        meta,
                    ),
                );
            }
        }
        out
    })
}

/// The rows a Supabase database holds for the objects.
fn storage_rows(pg: &PgCluster, db: &str, objects: &[Fixture]) {
    let mut sql = String::from(
        "TRUNCATE storage.objects; DELETE FROM storage.buckets;
         INSERT INTO storage.buckets VALUES
           ('avatars', 'avatars', true, 5242880, '{image/png,text/plain,text/html}'),
           ('docs', 'docs', false, NULL, NULL), ('many', 'many', false, 1024, '{application/json}');\n",
    );
    for chunk in objects.chunks(500) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|o| {
                format!(
                    "('{}', '{}', '{{\"size\": {}}}')",
                    o.bucket,
                    o.name.replace('\'', "''"),
                    o.bytes.len()
                )
            })
            .collect();
        sql.push_str(&format!(
            "INSERT INTO storage.objects (bucket_id, name, metadata) VALUES {};\n",
            rows.join(",")
        ));
    }
    pg.psql(db, &sql);
}

/// The set folder of a backup record.
fn set_dir(record: &Value) -> PathBuf {
    PathBuf::from(record["path"].as_str().unwrap())
}

pub(crate) fn id(record: &Value) -> String {
    record["id"].as_str().unwrap()[..8].to_string()
}

/// Runs and returns the run with its JSON, which must be a completed backup.
#[track_caller]
pub(crate) fn backup(sb: &Sb, args: &[&str]) -> (Run, Value) {
    let mut all = vec!["backup"];
    all.extend_from_slice(args);
    all.push("--json");
    let r = sb.run(&all);
    let v = r.json();
    assert_eq!(v["status"], "completed", "{}\n{}", r.stdout, r.stderr);
    (r, v)
}

/// Stored files under the project's store.
fn stored_files(store: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in std::fs::read_dir(store).unwrap().flatten() {
        let name = sub.file_name().to_string_lossy().to_string();
        if name.len() != 2 || !sub.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(sub.path()).unwrap().flatten() {
            out.push(format!("{name}/{}", f.file_name().to_string_lossy()));
        }
    }
    out.sort();
    out
}

/// The stored file holding `bytes` (compressed or not).
fn stored_name(store: &Path, bytes: &[u8]) -> String {
    let sha = hex::encode(Sha256::digest(bytes));
    stored_files(store)
        .into_iter()
        .find(|n| n.starts_with(&format!("{}/{sha}", &sha[..2])))
        .unwrap_or_else(|| panic!("no stored file for {sha}"))
}

fn sh(dir: &Path, cmd: &str) -> std::process::Output {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn s3_files_are_backed_up_once_incrementally_verified_and_collected() {
    let rt = runtime();
    let pg = PgCluster::start();
    pg.create_db("shop");
    pg.psql("shop", STORAGE_SCHEMA);
    pg.psql("shop", "CREATE TABLE public.orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 50);");
    let server = S3Server::start();
    let mut objects = fixture(2500, 20 << 20);
    seed(&rt, &server, &objects);
    storage_rows(&pg, "shop", &objects);
    let total = objects.len() as u64;

    let sb = Sb::new();
    let secret = [("SUPABACKUP_STORAGE_S3_SECRET", server.secret_key.as_str())];
    let mut runs = Vec::new();
    let added = sb.run_env(
        &[
            "project",
            "add",
            "--name",
            "Shop",
            "--db-url",
            &pg.url("shop"),
            "--storage-s3-endpoint",
            &server.endpoint,
            "--storage-s3-region",
            "us-east-1",
            "--storage-s3-access-key-id",
            &server.access_key,
            "--storage-exclude",
            "backups",
        ],
        &secret,
    );
    let added = added.ok();
    assert!(
        added.stdout.contains("Storage files of \"Shop\": S3 at"),
        "{}",
        added.stdout
    );
    runs.push(added);
    // Without the secret (no environment, no terminal), nothing is added.
    let refused = sb.run(&[
        "project",
        "add",
        "--name",
        "Other",
        "--db-url",
        &pg.url("shop"),
        "--storage-s3-endpoint",
        &server.endpoint,
        "--storage-s3-region",
        "us-east-1",
        "--storage-s3-access-key-id",
        &server.access_key,
    ]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("SUPABACKUP_STORAGE_S3_SECRET"),
        "{}",
        refused.stderr
    );
    assert!(!sb.run(&["project", "list"]).ok().stdout.contains("Other"));

    let test = sb.run(&["project", "test", "Shop"]).ok();
    assert!(
        test.stdout.contains("Storage:      S3 at")
            && test
                .stdout
                .contains("4 bucket(s): avatars, backups, docs, many"),
        "{}",
        test.stdout
    );
    runs.push(test);

    // The first backup says what it will download (egress), then does.
    let (r1, b1) = backup(&sb, &["Shop", "--profile", "postgres"]);
    assert!(
        r1.stderr
            .contains("First backup of the Storage files of \"Shop\""),
        "{}",
        r1.stderr
    );
    assert!(
        r1.stderr.contains("egress") && r1.stderr.contains("2,507 file(s)"),
        "{}",
        r1.stderr
    );
    assert_eq!(b1["storage"]["objects"], total);
    assert_eq!(b1["storage"]["downloaded"], total);
    assert_eq!(b1["storage"]["buckets"], 3, "backups is excluded");
    assert!(b1["rows"].as_u64().unwrap() >= 50, "and the database");
    let dir1 = set_dir(&b1);
    for f in [
        "storage.json.zst",
        "objects.txt",
        "manifest.json",
        "SHA256SUMS",
        "data.sql.zst",
    ] {
        assert!(dir1.join(f).is_file(), "{f} in {}", dir1.display());
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir1.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], 3);
    assert_eq!(manifest["objects"]["file"], "objects.txt");
    // Readable with standard tools: the set's checksums, then every stored
    // file against objects.txt.
    let store = dir1.parent().unwrap().join("objects");
    assert!(sh(&dir1, "sha256sum -c SHA256SUMS").status.success());
    let checked = sh(
        &store,
        &format!("sha256sum -c {}/objects.txt", dir1.display()),
    );
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    // Each content once: the 2,500 small JSON files and the rest.
    let files1 = stored_files(&store);
    assert_eq!(files1.len() as u64, total);
    let big = objects.iter().find(|o| o.name == "big/video.bin").unwrap();
    assert!(
        !stored_name(&store, &big.bytes).ends_with(".zst"),
        "noise is stored as it is"
    );
    let html = objects.iter().find(|o| o.name == "index.html").unwrap();
    assert!(
        stored_name(&store, &html.bytes).ends_with(".zst"),
        "text is compressed"
    );
    runs.push(r1);

    // A second backup downloads nothing.
    let (r2, b2) = backup(&sb, &["Shop", "--profile", "postgres"]);
    assert!(!r2.stderr.contains("First backup"), "{}", r2.stderr);
    assert_eq!(b2["storage"]["downloaded"], 0, "{}", r2.stdout);
    assert_eq!(b2["storage"]["objects"], total);
    assert_eq!(stored_files(&store), files1, "nothing stored twice");
    runs.push(r2);

    // One changed file: only it is downloaded.
    let old_readme = objects
        .iter()
        .find(|o| o.name == "readme.txt")
        .unwrap()
        .bytes
        .clone();
    let readme = objects.iter_mut().find(|o| o.name == "readme.txt").unwrap();
    readme.bytes = b"version two, longer\n".repeat(100);
    let changed = readme.clone();
    rt.block_on(put(&bucket_store(&server, "docs"), &changed));
    storage_rows(&pg, "shop", &objects);
    let (r3, b3) = backup(&sb, &["Shop", "--profile", "postgres"]);
    assert_eq!(b3["storage"]["downloaded"], 1, "{}", r3.stdout);
    assert_eq!(b3["storage"]["downloaded_bytes"], changed.bytes.len());
    assert_eq!(b3["storage"]["stored_new"], 1);
    runs.push(r3);

    // Verify checks every stored file; the drill compares each bucket with
    // the restored storage.objects rows.
    let v = sb
        .run(&["verify", &id(&b3), "--restore-to", &pg.url("postgres")])
        .ok();
    assert!(v.stdout.contains("stored Storage file(s)"), "{}", v.stdout);
    assert!(
        v.stdout.contains("Storage: 3 bucket(s) compared"),
        "{}",
        v.stdout
    );
    assert!(v.stdout.contains("Restore drill passed"), "{}", v.stdout);
    runs.push(v);

    // A Storage-only backup, and --no-storage.
    let (_, b4) = backup(&sb, &["Shop", "--kind", "storage"]);
    assert_eq!(b4["storage"]["downloaded"], 0);
    assert!(b4["rows"] == 0 && !set_dir(&b4).join("data.sql.zst").exists());
    let (_, b5) = backup(&sb, &["Shop", "--no-storage", "--profile", "postgres"]);
    assert!(b5.get("storage").is_none() && !set_dir(&b5).join("objects.txt").exists());

    // Deleting sets removes the stored files no remaining set refers to,
    // once they are older than storage-grace-hours: the old readme goes
    // only with the last set that had it, and not while it is young.
    let old = stored_name(&store, &old_readme);
    sb.run(&["backup-delete", &id(&b1), "--yes"]).ok();
    assert!(store.join(&old).is_file(), "backup 2 still refers to it");
    sb.run(&["backup-delete", &id(&b2), "--yes"]).ok();
    assert!(
        store.join(&old).is_file(),
        "younger than storage-grace-hours (24 by default)"
    );
    sb.run(&["settings", "set", "storage-grace-hours", "0"])
        .ok();
    sb.run(&["backup-delete", &id(&b5), "--yes"]).ok();
    assert!(!store.join(&old).exists(), "no set refers to it any more");
    assert_eq!(
        stored_files(&store).len() as u64,
        total,
        "b3 and b4 keep them"
    );
    sb.run(&["verify", &id(&b3)]).ok();

    // A damaged stored file is caught, and named.
    let profile = objects
        .iter()
        .find(|o| o.name.ends_with("profile.png"))
        .unwrap();
    let damaged = store.join(stored_name(&store, &profile.bytes));
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[1000] ^= 0x20;
    std::fs::write(&damaged, bytes).unwrap();
    let v = sb.run(&["verify", &id(&b3)]);
    assert_eq!(v.code, 1, "{}\n{}", v.stdout, v.stderr);
    assert!(
        v.stdout.contains("DAMAGED") && v.stdout.contains("users/42/deep/er/profile.png"),
        "{}",
        v.stdout
    );
    runs.push(v);

    // The S3 secret is nowhere: outputs, catalog, log, export, backups.
    let export = sb.tmp.path().join("export.db");
    runs.push(sb.run(&["export-sqlite", export.to_str().unwrap()]).ok());
    runs.push(sb.run(&["project", "show", "Shop", "--json"]).ok());
    let mut hay = sb.all_bytes();
    hay.extend(std::fs::read(&export).unwrap());
    for r in &runs {
        hay.extend(r.stdout.as_bytes());
        hay.extend(r.stderr.as_bytes());
    }
    assert_no_secret(
        "everything supabackup wrote and printed",
        &hay,
        &server.secret_key,
    );
}

#[test]
fn s3_files_restore_into_an_empty_project_identically_and_only_what_differs() {
    let rt = runtime();
    let pg = PgCluster::start();
    pg.create_db("shop");
    pg.create_db("copy");
    let (src, dst) = (S3Server::start(), S3Server::start());
    let objects = fixture(1001, 2 << 20);
    seed(&rt, &src, &objects);
    let sb = Sb::new();
    add_with_s3(&sb, "Shop", &pg.url("shop"), &src);
    add_with_s3(&sb, "Copy", &pg.url("copy"), &dst);
    let (_, b) = backup(&sb, &["Shop", "--kind", "storage"]);
    let short = id(&b);
    let buckets = ["avatars", "docs", "many"];

    // A database URL gives no Storage access: said so.
    let r = sb.run(&[
        "restore",
        &short,
        "--to-url",
        &pg.url("copy"),
        "--storage-only",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--to-project"), "{}", r.stderr);

    // Into the empty second project: every bucket and file, identical.
    let r = sb
        .run(&[
            "restore",
            &short,
            "--to-project",
            "Copy",
            "--storage-only",
            "--json",
        ])
        .ok();
    let report = r.json();
    assert_eq!(report["storage"]["uploaded"], objects.len(), "{}", r.stdout);
    assert_eq!(
        report["storage"]["buckets_created"],
        json!(["avatars", "docs", "many"])
    );
    let want = snapshot(&rt, &src, &buckets);
    assert_eq!(want.len(), objects.len());
    assert_eq!(
        snapshot(&rt, &dst, &buckets),
        want,
        "bytes, content types, cache control, metadata"
    );

    // Again: nothing to do.
    let r = sb
        .run(&[
            "restore",
            &short,
            "--to-project",
            "Copy",
            "--storage-only",
            "--json",
        ])
        .ok();
    assert_eq!(r.json()["storage"]["uploaded"], 0, "{}", r.stdout);
    assert_eq!(r.json()["storage"]["unchanged"], objects.len());

    // A changed file is replaced only when agreed to; an unknown one is
    // deleted only with --storage-mirror.
    let mut changed = objects[1].clone();
    changed.bytes = b"changed at the target".to_vec();
    rt.block_on(put(&bucket_store(&dst, "avatars"), &changed));
    let mut extra = objects[1].clone();
    extra.name = "not-in-the-backup.txt".into();
    rt.block_on(put(&bucket_store(&dst, "avatars"), &extra));
    let r = sb.run(&["restore", &short, "--to-project", "Copy", "--storage-only"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("would be replaced (such as avatars/empty.txt)"),
        "{}",
        r.stderr
    );
    let r = sb
        .run(&[
            "restore",
            &short,
            "--to-project",
            "Copy",
            "--storage-only",
            "--yes",
        ])
        .ok();
    assert!(
        r.stdout.contains("1 of 1,008 file(s) uploaded") && r.stdout.contains("1 replaced"),
        "{}",
        r.stdout
    );
    let after = snapshot(&rt, &dst, &buckets);
    assert_eq!(after.len(), want.len() + 1, "the unknown file stays");
    let r = sb
        .run(&[
            "restore",
            &short,
            "--to-project",
            "Copy",
            "--storage-only",
            "--yes",
            "--storage-mirror",
            "--json",
        ])
        .ok();
    assert_eq!(r.json()["storage"]["deleted"], 1, "{}", r.stdout);
    assert_eq!(snapshot(&rt, &dst, &buckets), want);
}

#[test]
fn a_server_dying_mid_download_keeps_no_set_and_the_next_backup_resumes() {
    let rt = runtime();
    let pg = PgCluster::start();
    pg.create_db("shop");
    let mut server = S3Server::start();
    let objects: Vec<Fixture> = (0..1500)
        .map(|i| Fixture {
            bucket: "files",
            name: format!("f/{i:05}.bin"),
            bytes: noise(4096, i),
            content_type: "application/octet-stream",
            cache_control: "no-cache",
            meta: None,
        })
        .collect();
    seed(&rt, &server, &objects);
    let sb = Sb::new();
    sb.run_env(
        &[
            "project",
            "add",
            "--name",
            "Shop",
            "--db-url",
            &pg.url("shop"),
            "--storage-s3-endpoint",
            &server.endpoint,
            "--storage-s3-region",
            "us-east-1",
            "--storage-s3-access-key-id",
            &server.access_key,
            "--storage-include",
            "files",
        ],
        &[("SUPABACKUP_STORAGE_S3_SECRET", server.secret_key.as_str())],
    )
    .ok();
    sb.run(&["settings", "set", "storage-concurrency", "1"])
        .ok();
    let journal = sb.data_dir().join("backups/shop/objects/journal.jsonl");
    let lines = || {
        std::fs::read_to_string(&journal)
            .map(|t| t.lines().filter(|l| l.ends_with('}')).count())
            .unwrap_or(0)
    };
    let mut child = sb
        .cmd()
        .args(["backup", "Shop", "--kind", "storage", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines() < 100 {
        assert!(Instant::now() < deadline, "the backup never got going");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    let out: Run = child.wait_with_output().unwrap().into();
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let record = out.json();
    assert_eq!(record["status"], "failed");
    let error = record["error"].as_str().unwrap();
    assert!(
        error.contains("the next backup goes on from there"),
        "{error}"
    );
    let stored_before = lines();
    assert!(
        stored_before < objects.len(),
        "killed too late to test anything"
    );
    // No set, complete or not: only the store.
    let project_dir = sb.data_dir().join("backups/shop");
    let left: Vec<String> = std::fs::read_dir(&project_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n != "objects" && n != ".partial")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let partial = project_dir.join(".partial");
    assert!(!partial.exists() || std::fs::read_dir(&partial).unwrap().next().is_none());
    assert!(sb.backups().iter().all(|b| b["status"] != "completed"));

    // Back up: only what was not stored yet is downloaded.
    server.restart();
    let (_, b) = backup(&sb, &["Shop", "--kind", "storage"]);
    assert_eq!(b["storage"]["objects"], objects.len());
    assert_eq!(
        b["storage"]["downloaded"].as_u64().unwrap() as usize,
        objects.len() - stored_before,
        "{b}"
    );
    sb.run(&["verify", &id(&b)]).ok();
}

/// The REST fixture: (bucket, name, bytes, content type, cache control, metadata).
pub(crate) fn rest_fixture(server: &RestServer, docs: usize) -> usize {
    server.create_bucket(
        "avatars",
        true,
        Some(1 << 20),
        Some(&["image/png", "text/plain", "text/html"]),
    );
    server.create_bucket("docs", false, None, None);
    server.put(
        "avatars",
        "users/42/profile.png",
        &noise(2000, 7),
        "image/png",
        "max-age=3600",
        json!({"owner": "42"}),
    );
    server.put(
        "avatars",
        "empty.txt",
        b"",
        "text/plain",
        "no-cache",
        Value::Null,
    );
    server.put(
        "avatars",
        "with space/my file (1).txt",
        &b"spaces\n".repeat(30),
        "text/plain",
        "max-age=60",
        Value::Null,
    );
    server.put(
        "avatars",
        "index.html",
        &b"<p>hi</p>\n".repeat(30),
        "text/html",
        "max-age=300",
        Value::Null,
    );
    server.put(
        "docs",
        "readme.txt",
        &b"v1 of the readme\n".repeat(30),
        "text/plain",
        "no-cache",
        json!({"a": {"nested": 1}}),
    );
    for i in 0..docs {
        server.put(
            "docs",
            &format!("n/{:02}/{i:05}.txt", i % 5),
            format!("doc {i}\n").as_bytes(),
            "text/plain",
            "no-cache",
            Value::Null,
        );
    }
    5 + docs
}

#[test]
fn rest_files_back_up_incrementally_retry_fall_back_to_list_v1_and_restore_identically() {
    let pg = PgCluster::start();
    pg.create_db("shop");
    let key = "eyJhbGciOiJIUzI1NiJ9.service-role-5ecret-never-shown.sig";
    let key2 = "eyJhbGciOiJIUzI1NiJ9.second-project-5ecret.sig";
    let src = RestServer::start(key);
    let total = rest_fixture(&src, 1200) as u64;
    let sb = Sb::new();
    let mut runs = vec![
        sb.run(&[
            "project",
            "add",
            "--name",
            "Rest",
            "--db-url",
            &pg.url("shop"),
            "--service-key",
            key,
            "--api-url",
            &src.url,
        ])
        .ok(),
    ];
    let test = sb.run(&["project", "test", "Rest"]).ok();
    assert!(
        test.stdout.contains(&format!("REST API at {}", src.url)),
        "{}",
        test.stdout
    );
    assert!(
        test.stdout.contains("2 bucket(s): avatars, docs"),
        "{}",
        test.stdout
    );
    runs.push(test);

    let (r1, b1) = backup(&sb, &["Rest", "--kind", "storage"]);
    assert!(r1.stderr.contains("First backup"), "{}", r1.stderr);
    assert_eq!(b1["storage"]["downloaded"], total);
    assert_eq!(src.downloads(), total);
    runs.push(r1);
    let (_, b2) = backup(&sb, &["Rest", "--kind", "storage"]);
    assert_eq!(b2["storage"]["downloaded"], 0);
    assert_eq!(src.downloads(), total, "nothing fetched again");

    // Same size, other bytes: the ETag tells. Busy answers are retried.
    src.put(
        "docs",
        "readme.txt",
        &b"v2 of the readme\n".repeat(30),
        "text/plain",
        "no-cache",
        json!({"a": {"nested": 2}}),
    );
    src.fail_next_downloads(&[429, 503]);
    let (_, b3) = backup(&sb, &["Rest", "--kind", "storage"]);
    assert_eq!(b3["storage"]["downloaded"], 1, "{b3}");
    assert_eq!(src.downloads(), total + 1);

    // A tenant without list-v2: folder by folder, the same files.
    src.set_v2(false);
    let (_, b4) = backup(&sb, &["Rest", "--kind", "storage"]);
    assert_eq!(
        (
            b4["storage"]["objects"].as_u64(),
            b4["storage"]["downloaded"].as_u64()
        ),
        (Some(total), Some(0))
    );
    assert!(
        src.requests()
            .iter()
            .any(|r| r.starts_with("POST /object/list/docs"))
    );

    // Into an empty second project: buckets with their settings, files
    // with their bytes, content types (HTML too), cache control, metadata.
    let dst = RestServer::start(key2);
    pg.create_db("copy");
    runs.push(
        sb.run(&[
            "project",
            "add",
            "--name",
            "Copy",
            "--db-url",
            &pg.url("copy"),
            "--service-key",
            key2,
            "--api-url",
            &dst.url,
        ])
        .ok(),
    );
    let r = sb
        .run(&[
            "restore",
            &id(&b3),
            "--to-project",
            "Copy",
            "--storage-only",
        ])
        .ok();
    assert!(
        r.stdout.contains("1,205 of 1,205 file(s) uploaded"),
        "{}",
        r.stdout
    );
    runs.push(r);
    for name in ["avatars", "docs"] {
        let (a, b) = (src.bucket(name).unwrap(), dst.bucket(name).unwrap());
        assert_eq!(
            (a.public, a.file_size_limit, &a.allowed_mime_types),
            (b.public, b.file_size_limit, &b.allowed_mime_types),
            "{name}"
        );
        assert_eq!(a.objects.len(), b.objects.len());
        for (n, o) in &a.objects {
            let c = &b.objects[n];
            assert_eq!(
                (
                    &o.bytes,
                    &o.content_type,
                    &o.cache_control,
                    &o.user_metadata
                ),
                (
                    &c.bytes,
                    &c.content_type,
                    &c.cache_control,
                    &c.user_metadata
                ),
                "{name}/{n}"
            );
        }
    }

    // The service keys are nowhere, not even in the URLs sent.
    let mut hay = sb.all_bytes();
    for r in &runs {
        hay.extend(r.stdout.as_bytes());
        hay.extend(r.stderr.as_bytes());
    }
    hay.extend(src.requests().join("\n").as_bytes());
    for k in [key, key2] {
        assert_no_secret("everything supabackup wrote and printed", &hay, k);
    }
}

#[test]
fn encrypted_storage_files_verify_without_the_key_and_restore_with_it() {
    let pg = PgCluster::start();
    pg.create_db("shop");
    let (key, key2) = ("service-key-one-5ecret", "service-key-two-5ecret");
    let src = RestServer::start(key);
    let total = rest_fixture(&src, 20) as u64;
    let sb = Sb::new();
    let identity = sb.tmp.path().join("identity.txt");
    let public = sb
        .run(&["key", "generate", "--out", identity.to_str().unwrap()])
        .ok()
        .stdout
        .trim()
        .to_string();
    sb.run(&[
        "project",
        "add",
        "--name",
        "Sealed",
        "--db-url",
        &pg.url("shop"),
        "--service-key",
        key,
        "--api-url",
        &src.url,
        "--encrypt-to",
        &public,
    ])
    .ok();
    let (_, b) = backup(&sb, &["Sealed", "--kind", "storage"]);
    let dir = set_dir(&b);
    assert!(dir.join("storage.json.zst.age").is_file() && dir.join("objects.txt").is_file());
    let store = dir.parent().unwrap().join("objects");
    let files = stored_files(&store);
    assert_eq!(files.len() as u64, total);
    assert!(files.iter().all(|f| f.ends_with(".age")), "{files:?}");
    // Neither the journal nor any plain file names an object.
    let journal = std::fs::read_to_string(store.join("journal.jsonl")).unwrap();
    assert!(
        !journal.contains("readme") && !journal.contains("avatars"),
        "{journal}"
    );
    let v = sb.run(&["verify", &id(&b)]).ok();
    assert!(
        v.stdout.contains("encrypted: their bytes checked"),
        "{}",
        v.stdout
    );
    let v = sb
        .run(&["verify", &id(&b), "--identity", identity.to_str().unwrap()])
        .ok();
    assert!(
        v.stdout.contains("each decoded and its SHA-256 checked"),
        "{}",
        v.stdout
    );

    let dst = RestServer::start(key2);
    sb.run(&[
        "project",
        "add",
        "--name",
        "Copy",
        "--db-url",
        &pg.url("shop"),
        "--service-key",
        key2,
        "--api-url",
        &dst.url,
    ])
    .ok();
    let r = sb.run(&["restore", &id(&b), "--to-project", "Copy", "--storage-only"]);
    assert_eq!(r.code, 1, "no key: refused before anything: {}", r.stderr);
    assert!(dst.bucket_names().is_empty(), "nothing was created");
    sb.run(&[
        "restore",
        &id(&b),
        "--to-project",
        "Copy",
        "--storage-only",
        "--identity",
        identity.to_str().unwrap(),
    ])
    .ok();
    let (a, c) = (src.bucket("docs").unwrap(), dst.bucket("docs").unwrap());
    assert_eq!(
        a.objects.keys().collect::<Vec<_>>(),
        c.objects.keys().collect::<Vec<_>>()
    );
    assert!(a.objects.iter().all(|(n, o)| c.objects[n].bytes == o.bytes));
}

/// `project add` with the Storage S3 access of `server` (every bucket but
/// `backups`, which the server has for the off-site copy tests), the secret
/// in the environment as a person gives it.
fn add_with_s3(sb: &Sb, name: &str, url: &str, server: &S3Server) {
    sb.run_env(
        &[
            "project",
            "add",
            "--name",
            name,
            "--db-url",
            url,
            "--storage-s3-endpoint",
            &server.endpoint,
            "--storage-s3-region",
            "us-east-1",
            "--storage-s3-access-key-id",
            &server.access_key,
            "--storage-exclude",
            "backups",
        ],
        &[("SUPABACKUP_STORAGE_S3_SECRET", server.secret_key.as_str())],
    )
    .ok();
}

/// Stored files under a store, none when it is not there (yet, or any more).
fn stored_or_none(store: &Path) -> Vec<String> {
    if store.is_dir() {
        stored_files(store)
    } else {
        Vec::new()
    }
}

#[test]
fn storage_files_go_with_copies_and_restore_on_a_fresh_machine() {
    let rt = runtime();
    let pg = PgCluster::start();
    pg.create_db("shop");
    pg.create_db("copy");
    let (src, dst) = (S3Server::start(), S3Server::start());
    let objects = fixture(30, 256 << 10);
    seed(&rt, &src, &objects);
    let buckets = ["avatars", "docs", "many"];
    let add = |sb: &Sb, name: &str, db: &str, server: &S3Server| {
        add_with_s3(sb, name, &pg.url(db), server)
    };
    let sb = Sb::new();
    add(&sb, "Shop", "shop", &src);
    let usb = sb.tmp.path().join("usb");
    std::fs::create_dir_all(&usb).unwrap();
    let usb_arg = usb.to_str().unwrap();
    sb.run(&["destination", "add", "usb", "--folder", usb_arg])
        .ok();
    sb.run(&["project", "edit", "Shop", "--copy-to", "usb"])
        .ok();

    // The set and the files it refers to are copied, beside each other as
    // locally.
    let (r1, b1) = backup(&sb, &["Shop", "--kind", "storage"]);
    assert_eq!(
        b1["copies"][0]["state"], "copied",
        "{}\n{}",
        r1.stdout, r1.stderr
    );
    let project_dir = set_dir(&b1).parent().unwrap().to_path_buf();
    let local = project_dir.join("objects");
    let remote_store = usb.join(project_dir.file_name().unwrap()).join("objects");
    let first = stored_files(&local);
    assert!(first.len() >= 30, "{first:?}");
    assert_eq!(stored_or_none(&remote_store), first);

    // One changed file: one more stored file here and there, nothing sent twice.
    let mut changed = objects
        .iter()
        .find(|o| o.bytes.len() > 1000)
        .unwrap()
        .clone();
    changed.bytes = b"a new version of the file".repeat(100);
    rt.block_on(put(&bucket_store(&src, changed.bucket), &changed));
    let (_, b2) = backup(&sb, &["Shop", "--kind", "storage"]);
    assert_eq!(b2["copies"][0]["state"], "copied");
    let second = stored_files(&local);
    assert_eq!(second.len(), first.len() + 1);
    assert_eq!(stored_or_none(&remote_store), second);

    // A fresh machine with nothing but the folder: the sets come back from
    // it, verify, and the files restore into another project identically.
    let fresh = Sb::new();
    add(&fresh, "Copy", "copy", &dst);
    fresh
        .run(&["destination", "add", "usb", "--folder", usb_arg])
        .ok();
    let report = fresh
        .run(&["catalog", "rebuild", "--from", "usb", "--json"])
        .ok()
        .json();
    assert_eq!(report["restored"], 2, "{report}");
    assert_eq!(report["skipped"], json!([]), "{report}");
    let v = fresh.run(&["verify", &id(&b2)]).ok();
    assert!(v.stdout.contains("Backup intact"), "{}", v.stdout);
    fresh
        .run(&[
            "restore",
            &id(&b2),
            "--to-project",
            "Copy",
            "--storage-only",
        ])
        .ok();
    let want = snapshot(&rt, &src, &buckets);
    assert_eq!(snapshot(&rt, &dst, &buckets), want);

    // A stored file damaged at the destination: verify says which, and a
    // restore refuses before it uploads anything.
    let victim = remote_store.join(stored_name(&remote_store, &changed.bytes));
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&victim, bytes).unwrap();
    let v = fresh.run(&["verify", &id(&b2)]);
    assert_eq!(v.code, 1, "{}\n{}", v.stdout, v.stderr);
    assert!(v.stdout.contains("DAMAGED"), "{}", v.stdout);
    let r = fresh.run(&[
        "restore",
        &id(&b2),
        "--to-project",
        "Copy",
        "--storage-only",
        "--storage-mirror",
        "--yes",
    ]);
    assert_ne!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(snapshot(&rt, &dst, &buckets), want, "nothing was touched");

    // Deleting the sets deletes what only they referred to, there too
    // (at once: no grace period here).
    sb.run(&["settings", "set", "storage-grace-hours", "0"])
        .ok();
    sb.run(&["backup-delete", &id(&b1), "--yes"]).ok();
    assert_eq!(stored_files(&local).len(), second.len() - 1);
    assert_eq!(stored_or_none(&remote_store), stored_files(&local));
    sb.run(&["backup-delete", &id(&b2), "--yes"]).ok();
    assert_eq!(stored_or_none(&local), Vec::<String>::new());
    assert_eq!(stored_or_none(&remote_store), Vec::<String>::new());
}
