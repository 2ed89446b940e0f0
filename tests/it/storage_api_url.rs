//! `--api-url` takes the URL Supabase prints: the API URL of `supabase
//! status` or the dashboard's project URL (Storage is under `/storage/v1` on
//! it), the Storage URL itself, with or without a trailing slash; a URL that
//! answers but is not Storage's API (its S3 endpoint, a web page, an S3
//! server) is said to be so, before anything is dumped.

use crate::cli::Sb;
use crate::pg::PgCluster;
use crate::s3::S3Server;
use crate::storage::{backup, id, rest_fixture};
use crate::storage_rest::{Mount, RestServer};

const KEY: &str = "eyJhbGciOiJIUzI1NiJ9.gateway-service-5ecret.sig";
const KEY2: &str = "eyJhbGciOiJIUzI1NiJ9.second-gateway-5ecret.sig";

fn add(sb: &Sb, name: &str, db_url: &str, key: &str, api_url: &str) {
    sb.run(&[
        "project",
        "add",
        "--name",
        name,
        "--db-url",
        db_url,
        "--service-key",
        key,
        "--api-url",
        api_url,
    ])
    .ok();
}

#[test]
fn the_api_url_supabase_prints_backs_up_and_restores_through_the_gateway() {
    let pg = PgCluster::start();
    pg.create_db("shop");
    pg.create_db("copy");
    let src = RestServer::start(KEY);
    src.set_mount(Mount::Gateway);
    let total = rest_fixture(&src, 40) as u64;
    let sb = Sb::new();
    // As `supabase status` prints it (API URL), with a trailing slash.
    add(&sb, "Shop", &pg.url("shop"), KEY, &format!("{}/", src.url));
    let test = sb.run(&["project", "test", "Shop"]).ok();
    assert!(
        test.stdout
            .contains(&format!("Storage URL:  {}/storage/v1\n", src.url)),
        "{}",
        test.stdout
    );
    assert!(
        test.stdout.contains("2 bucket(s): avatars, docs"),
        "{}",
        test.stdout
    );
    let json = sb.run(&["project", "test", "Shop", "--json"]).ok().json();
    assert_eq!(
        json["storage"]["url"],
        format!("{}/storage/v1", src.url),
        "{json}"
    );

    let (_, b) = backup(&sb, &["Shop", "--kind", "storage"]);
    assert_eq!(b["storage"]["objects"], total, "{b}");
    assert_eq!(b["storage"]["downloaded"], total, "{b}");
    // Everything went through the gateway's Storage route.
    for r in src.requests() {
        let path = r.split(' ').nth(1).unwrap_or_default();
        assert!(path.starts_with("/storage/v1/"), "{r}");
    }

    // Into a second project whose URL is given as the Storage URL.
    let dst = RestServer::start(KEY2);
    dst.set_mount(Mount::Gateway);
    add(
        &sb,
        "Copy",
        &pg.url("copy"),
        KEY2,
        &format!("{}/storage/v1/", dst.url),
    );
    let r = sb
        .run(&["restore", &id(&b), "--to-project", "Copy", "--storage-only"])
        .ok();
    assert!(
        r.stdout
            .contains(&format!("{total} of {total} file(s) uploaded")),
        "{}",
        r.stdout
    );
    for name in ["avatars", "docs"] {
        let (a, c) = (src.bucket(name).unwrap(), dst.bucket(name).unwrap());
        assert_eq!(
            (a.public, a.file_size_limit, &a.allowed_mime_types),
            (c.public, c.file_size_limit, &c.allowed_mime_types),
            "{name}"
        );
        assert_eq!(a.objects.len(), c.objects.len(), "{name}");
        for (n, o) in &a.objects {
            let got = &c.objects[n];
            assert_eq!(
                (
                    &o.bytes,
                    &o.content_type,
                    &o.cache_control,
                    &o.user_metadata
                ),
                (
                    &got.bytes,
                    &got.content_type,
                    &got.cache_control,
                    &got.user_metadata
                ),
                "{name}/{n}"
            );
        }
    }
}

#[test]
fn a_url_that_is_not_storage_api_is_said_to_be_so() {
    let pg = PgCluster::start();
    pg.create_db("shop");
    let site = RestServer::start(KEY);
    site.set_mount(Mount::Gateway);
    let sb = Sb::new();
    add(&sb, "Shop", &pg.url("shop"), KEY, &site.url);

    // Storage's S3 endpoint given as the API URL: refused at once, with
    // what to give instead; nothing given with it is changed, and the URL
    // set before is kept.
    let r = sb.run(&[
        "project",
        "edit",
        "Shop",
        "--description",
        "changed",
        "--api-url",
        &format!("{}/storage/v1/s3", site.url),
    ]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("is Storage's S3 endpoint, not its REST API")
            && r.stderr.contains("--storage-s3-endpoint")
            && r.stderr.contains("http://127.0.0.1:54321"),
        "{}",
        r.stderr
    );
    let shown = sb.run(&["project", "show", "Shop", "--json"]).ok().json();
    assert_eq!(shown["description"], "", "{shown}");
    let test = sb.run(&["project", "test", "Shop"]).ok();
    assert!(test.stdout.contains("Storage URL:"), "{}", test.stdout);

    // A web site's URL: the test and a backup say what it answered, and the
    // backup stops before the database is dumped.
    site.set_mount(Mount::Html);
    let test = sb.run(&["project", "test", "Shop"]);
    assert_eq!(test.code, 1, "{}", test.stdout);
    assert!(
        test.stdout.contains(&format!(
            "{} is not Supabase Storage's API URL: {}/storage/v1/bucket answered with a web \
             page (HTML, HTTP 200)",
            site.url, site.url
        )) && test.stdout.contains("/bucket answered with a web page")
            && test.stdout.contains("NOT READY"),
        "{}",
        test.stdout
    );
    let r = sb.run(&["backup", "Shop", "--json"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    let err = v["error"].as_str().unwrap();
    assert!(
        err.contains("the Storage files cannot be backed up")
            && err.contains("web page (HTML")
            && err.contains("Give --api-url the API URL Supabase prints"),
        "{err}"
    );
    assert_eq!(v["rows"], 0, "{v}");

    // An S3 server's URL: it answers in XML.
    let s3 = S3Server::start();
    sb.run(&["project", "edit", "Shop", "--api-url", &s3.endpoint])
        .ok();
    let test = sb.run(&["project", "test", "Shop"]);
    assert_eq!(test.code, 1, "{}", test.stdout);
    assert!(
        test.stdout.contains("in XML") && test.stdout.contains("as an S3 endpoint does"),
        "{}",
        test.stdout
    );
    // Nothing secret in what was said.
    for out in [&test.stdout, &test.stderr, &r.stdout, &r.stderr] {
        assert!(!out.contains(KEY), "{out}");
    }
}
