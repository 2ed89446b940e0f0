//! Backup throughput against the same pg_dump piped through the zstd / xz
//! command-line tools at the same level, and against pg_dump to /dev/null.
//!
//! `cargo bench --bench backup_speed` (size: SUPABACKUP_BENCH_MB, default 500).
//! Starts its own PostgreSQL like the tests do.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../tests/it/pg.rs"]
mod pg;

#[allow(dead_code)] // The bench uses a few of the test harness's helpers.
#[path = "../tests/it/cli.rs"]
mod cli;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn timed(what: &str, mut cmd: Command) -> Duration {
    let start = Instant::now();
    let out = cmd.stdout(Stdio::null()).output().expect(what);
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

fn shell(script: &str) -> Command {
    let mut c = Command::new("bash");
    c.args(["-o", "pipefail", "-c", script]);
    c
}

fn main() {
    let mb: u64 = std::env::var("SUPABACKUP_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let cluster = pg::PgCluster::start();
    // ~116 bytes of COPY text per row.
    let rows = mb * 1024 * 1024 / 116;
    eprintln!("generating {rows} rows (~{mb} MB of dump text)...");
    let gen_start = Instant::now();
    cluster.psql(
        "postgres",
        &format!(
            "CREATE TABLE bench (id bigint PRIMARY KEY, label text, body text, amount numeric(12,2), at timestamptz); \
             INSERT INTO bench SELECT g, 'item-' || g, md5(g::text) || md5((g * 7)::text), (g % 100000) / 100.0, \
                    timestamptz '2026-01-01' + g * interval '1 second' FROM generate_series(1, {rows}) g;"
        ),
    );
    cluster.psql("postgres", "VACUUM ANALYZE bench");
    eprintln!("generated in {:.0?}", gen_start.elapsed());

    let sb = cli::Sb::new();
    sb.add_project("bench", &cluster.url("postgres"));
    let dir = sb.tmp.path();
    let bin = pg::pg_bin();
    let dump = format!(
        "PGPASSWORD='{}' '{}/pg_dump' -h 127.0.0.1 -p {} -U postgres --data-only postgres",
        pg::SUPERUSER_PASSWORD,
        bin.display(),
        cluster.port
    );

    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let raw_out = dir.join("raw.sql");
    let t_raw_file = timed(
        "pg_dump > file",
        shell(&format!("{dump} > '{}'", raw_out.display())),
    );
    let raw = size(&raw_out);
    std::fs::remove_file(&raw_out).ok();
    let t_null = timed("pg_dump > /dev/null", shell(&format!("{dump} > /dev/null")));

    let mut lines = vec![format!(
        "dump text: {:.0} MB; pg_dump > /dev/null: {:.1}s ({:.0} MB/s); pg_dump > file: {:.1}s",
        raw as f64 / 1e6,
        t_null.as_secs_f64(),
        raw as f64 / 1e6 / t_null.as_secs_f64(),
        t_raw_file.as_secs_f64()
    )];
    for (codec, level, cli) in [
        ("zstd", "3", "zstd -3 -T0 -q"),
        ("zstd", "3", "zstd -3 -q"),
        ("xz", "1", "xz -1 -T0"),
    ] {
        let out = dir.join(format!("cli.{codec}"));
        let t_cli = timed(cli, shell(&format!("{dump} | {cli} > '{}'", out.display())));
        let cli_size = size(&out);
        std::fs::remove_file(&out).ok();
        let start = Instant::now();
        let r = sb.run(&[
            "backup",
            "bench",
            "--kind",
            "data",
            "--compression",
            codec,
            "--level",
            level,
            "--json",
        ]);
        let t_sb = start.elapsed();
        let v = r.ok().json();
        let sb_size = v["bytes"].as_u64().unwrap();
        lines.push(format!(
            "{codec} level {level}: supabackup {:.1}s, {:.1} MB | pg_dump | {cli}: {:.1}s, {:.1} MB | time ratio {:.2} (below 1 = supabackup faster), vs pg_dump > /dev/null {:.2}",
            t_sb.as_secs_f64(),
            sb_size as f64 / 1e6,
            t_cli.as_secs_f64(),
            cli_size as f64 / 1e6,
            t_sb.as_secs_f64() / t_cli.as_secs_f64(),
            t_sb.as_secs_f64() / t_null.as_secs_f64(),
        ));
        let id = v["id"].as_str().unwrap();
        sb.run(&["backup-delete", id, "--yes"]);
    }
    // Encrypted to an age key against the same backup unencrypted, each
    // three times, alternating (median), in one run.
    let key = dir.join("bench-key.txt");
    let public = sb
        .run(&["key", "generate", "--out", key.to_str().unwrap()])
        .ok()
        .stdout
        .trim()
        .to_string();
    let timed_backup = |encrypted: bool| {
        let flag = if encrypted {
            vec!["--encrypt-to", public.as_str()]
        } else {
            vec!["--no-encryption"]
        };
        let mut args = vec!["project", "edit", "bench"];
        args.extend(flag);
        sb.run(&args).ok();
        let start = Instant::now();
        let v = sb
            .run(&[
                "backup",
                "bench",
                "--kind",
                "data",
                "--compression",
                "zstd",
                "--level",
                "3",
                "--json",
            ])
            .ok()
            .json();
        let t = start.elapsed();
        sb.run(&["backup-delete", v["id"].as_str().unwrap(), "--yes"]);
        t
    };
    let (mut plain, mut sealed) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        plain.push(timed_backup(false));
        sealed.push(timed_backup(true));
    }
    plain.sort();
    sealed.sort();
    lines.push(format!(
        "zstd level 3, encrypted to an age key: {:.1}s vs unencrypted {:.1}s (median of 3): ratio {:.3} (goal <= 1.05)",
        sealed[1].as_secs_f64(),
        plain[1].as_secs_f64(),
        sealed[1].as_secs_f64() / plain[1].as_secs_f64()
    ));
    println!(
        "\nbackup_speed ({} cores):",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for l in lines {
        println!("  {l}");
    }
}
