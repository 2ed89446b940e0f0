//! Restore time of a database whose tables carry several indexes:
//! `supabackup restore`, beside a hand restore of the same parts in section
//! order (`psql --single-transaction -v ON_ERROR_STOP=1`), beside the layout
//! before the section split (one schema part with the indexes, loaded before
//! the rows), all in one run, each five times (median; supabackup and the
//! hand restore take turns going first).
//!
//! `cargo bench --bench restore_speed` (rows: SUPABACKUP_BENCH_ROWS, default
//! 1,500,000). Starts its own PostgreSQL like the tests do.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../tests/it/pg.rs"]
mod pg;

#[allow(dead_code)] // The bench uses a few of the test harness's helpers.
#[path = "../tests/it/cli.rs"]
mod cli;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn shell(script: &str, dir: &Path, cluster: &pg::PgCluster) -> Duration {
    let start = Instant::now();
    let out = Command::new("bash")
        .args(["-o", "pipefail", "-c", script])
        .current_dir(dir)
        .env(
            "PATH",
            format!(
                "{}:{}",
                cluster.bin.display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .env("PGPASSWORD", pg::SUPERUSER_PASSWORD)
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", cluster.port.to_string())
        .env("PGUSER", "postgres")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rows: u64 = std::env::var("SUPABACKUP_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_500_000);
    let cluster = pg::PgCluster::start();
    eprintln!("generating {rows} rows with four secondary indexes...");
    cluster.psql(
        "postgres",
        &format!(
            "CREATE TABLE orders (id bigint PRIMARY KEY, customer bigint NOT NULL, email text NOT NULL, \
                                  placed timestamptz NOT NULL, total numeric(12,2) NOT NULL, note text); \
             INSERT INTO orders SELECT g, g % 50000, 'user' || (g % 50000) || '@example.com', \
                    timestamptz '2026-01-01' + g * interval '7 seconds', (g % 100000) / 100.0, md5(g::text) \
             FROM generate_series(1, {rows}) g; \
             CREATE INDEX orders_customer ON orders (customer); \
             CREATE INDEX orders_email ON orders (lower(email)); \
             CREATE INDEX orders_placed ON orders (placed); \
             CREATE INDEX orders_total ON orders (total) WHERE total > 100;"
        ),
    );
    cluster.psql("postgres", "VACUUM ANALYZE orders");
    let sb = cli::Sb::new();
    sb.add_project("bench", &cluster.url("postgres"));
    let b = sb.backup("bench", &["--profile", "postgres"]);
    let id = b["id"].as_str().unwrap().to_string();
    let dir = std::path::PathBuf::from(b["path"].as_str().unwrap());
    // The same database as a set of the old layout.
    let legacy_root = sb.tmp.path().join("legacy");
    std::fs::create_dir_all(&legacy_root).unwrap();
    let legacy = legacy_root.join("set");
    std::fs::create_dir_all(&legacy).unwrap();
    shell(
        "pg_dump --quote-all-identifiers --schema-only postgres | zstd -q -o schema.sql.zst && \
         pg_dump --quote-all-identifiers --data-only postgres | zstd -q -o data.sql.zst",
        &legacy,
        &cluster,
    );

    let (mut sbt, mut hand, mut old) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..5 {
        let fresh = |name: &str| {
            let db = format!("{name}{round}");
            cluster.create_db(&db);
            // Each run starts from the same quiet server.
            cluster.psql("postgres", "CHECKPOINT");
            db
        };
        let run_sb = |sbt: &mut Vec<Duration>| {
            let db = fresh("sb");
            let start = Instant::now();
            sb.run(&["restore", &id, "--to-url", &cluster.url(&db)])
                .ok();
            sbt.push(start.elapsed());
        };
        let run_hand = |hand: &mut Vec<Duration>| {
            let db = fresh("hand");
            hand.push(shell(
                &format!(
                    "( zstd -dc roles.sql.zst; zstd -dc pre-data.sql.zst; zstd -dc data.sql.zst; zstd -dc post-data.sql.zst ) \
                     | psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d {db} > /dev/null"
                ),
                &dir,
                &cluster,
            ));
        };
        // Alternate which goes first, so neither always follows the drops.
        if round % 2 == 0 {
            run_sb(&mut sbt);
            run_hand(&mut hand);
        } else {
            run_hand(&mut hand);
            run_sb(&mut sbt);
        }
        let db = fresh("old");
        old.push(shell(
            &format!(
                "( zstd -dc schema.sql.zst; zstd -dc data.sql.zst ) \
                 | psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d {db} > /dev/null"
            ),
            &legacy,
            &cluster,
        ));
        for name in ["sb", "hand", "old"] {
            cluster.psql("postgres", &format!("DROP DATABASE {name}{round}"));
        }
    }
    let (s, h, o) = (median(sbt), median(hand), median(old));
    println!(
        "\nrestore_speed ({rows} rows, 4 secondary indexes, {} cores; median of 5):",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "  supabackup restore (checksums, inspect, sections): {:.1}s",
        s.as_secs_f64()
    );
    println!(
        "  hand restore, pre-data | data | post-data, one transaction: {:.1}s",
        h.as_secs_f64()
    );
    println!(
        "  old layout (indexes before the rows), one transaction: {:.1}s",
        o.as_secs_f64()
    );
    println!(
        "  supabackup / hand: {:.2} (goal <= 1.05); old layout / hand: {:.2}",
        s.as_secs_f64() / h.as_secs_f64(),
        o.as_secs_f64() / h.as_secs_f64()
    );
}
