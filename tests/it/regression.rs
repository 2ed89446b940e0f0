//! PostgreSQL's own regression database (every kind of object the server
//! has, made by its own test suite) backed up with profile `postgres` and
//! restored into an empty database: its pg_dump must equal, line for line,
//! the pg_dump of a plain `pg_dump | psql` copy.
//!
//! Takes minutes (it builds pg_regress from the PostgreSQL source of the
//! suite's major with `.ci/regress-db.sh` the first time, then runs the
//! regression schedule), so it is ignored by default:
//! `cargo test --test it regression -- --ignored` (`.ci/run` runs it).

use crate::cli::Sb;
use crate::pg::{PgCluster, SUPERUSER_PASSWORD};
use crate::sections::assert_same_dump;
use std::process::Command;

fn script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/regress-db.sh")
}

#[test]
#[ignore = "minutes: builds and runs PostgreSQL's regression suite (.ci/run runs it)"]
fn regression_database_round_trips() {
    let pg = PgCluster::start();
    let out = Command::new(script())
        .args(["run", "--bindir"])
        .arg(&pg.bin)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &pg.port.to_string(),
            "--user",
            "postgres",
        ])
        .env("PGPASSWORD", SUPERUSER_PASSWORD)
        .output()
        .expect("run .ci/regress-db.sh");
    assert!(
        out.status.success(),
        "the regression database could not be made: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The reference: a plain pg_dump | psql copy, in one transaction.
    pg.create_db("plain_copy");
    let copy = Command::new("bash")
        .args([
            "-o",
            "pipefail",
            "-c",
            "pg_dump -h 127.0.0.1 -p \"$PORT\" -U postgres regression \
             | psql -X -q -v ON_ERROR_STOP=1 --single-transaction -h 127.0.0.1 -p \"$PORT\" -U postgres plain_copy",
        ])
        .env("PATH", format!("{}:{}", pg.bin.display(), std::env::var("PATH").unwrap()))
        .env("PORT", pg.port.to_string())
        .env("PGPASSWORD", SUPERUSER_PASSWORD)
        .output()
        .unwrap();
    assert!(
        copy.status.success(),
        "pg_dump | psql: {}",
        String::from_utf8_lossy(&copy.stderr)
    );

    let sb = Sb::new();
    sb.add_project("Regression", &pg.url("regression"));
    let b = sb.backup("Regression", &["--profile", "postgres"]);
    sb.run(&["verify", b["id"].as_str().unwrap()]).ok();
    pg.create_db("restored");
    let r = sb
        .run(&[
            "restore",
            b["id"].as_str().unwrap(),
            "--to-url",
            &pg.url("restored"),
        ])
        .ok();
    assert!(r.stdout.contains("Restored backup"), "{}", r.stdout);
    let reference = pg.dump_text("plain_copy");
    assert!(
        reference.lines().count() > 100_000,
        "the regression database is there"
    );
    assert_same_dump(&reference, &pg.dump_text("restored"));
}
