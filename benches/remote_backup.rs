//! A full backup over a slow link, against one full `pg_dump` to /dev/null
//! over the same link. Supabase projects are remote: pg_dump reads the
//! catalog query by query, so round trips, not bytes, set the time.
//!
//! The link: a TCP proxy on 127.0.0.1 that holds every chunk for
//! SUPABACKUP_BENCH_RTT_MS / 2 in each direction (default 50 ms round
//! trip), bandwidth unlimited (this machine has no netem). Databases: 300
//! small tables, and pgbench's schema at scale 10.
//!
//! `cargo bench --bench remote_backup`. Goal: supabackup at most 1.05x.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../tests/it/pg.rs"]
mod pg;

#[allow(dead_code)] // The bench uses a few of the test harness's helpers.
#[path = "../tests/it/cli.rs"]
mod cli;

use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Forwards one direction, each chunk delivered `delay` after it was read.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at + delay).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx
                    .send((tokio::time::Instant::now(), buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Starts the slow link to `upstream`; returns its port.
fn slow_link(rt: &tokio::runtime::Runtime, upstream: u16, rtt: Duration) -> u16 {
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                break;
            };
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                let half = rtt / 2;
                tokio::join!(pump(cr, sw, half), pump(sr, cw, half));
            });
        }
    });
    port
}

fn time(what: &str, mut cmd: Command) -> Duration {
    let start = Instant::now();
    let out = cmd.output().expect(what);
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

fn main() {
    let rtt = Duration::from_millis(
        std::env::var("SUPABACKUP_BENCH_RTT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cluster = pg::PgCluster::start();
    cluster.create_db("tables300");
    let mut ddl = String::new();
    for i in 0..300 {
        ddl.push_str(&format!(
            "CREATE TABLE t{i} (id int PRIMARY KEY, name text, at timestamptz DEFAULT now()); \
             INSERT INTO t{i} (id, name) SELECT g, 'n' || g FROM generate_series(1, 20) g; "
        ));
    }
    cluster.psql("tables300", &ddl);
    cluster.create_db("pgbench10");
    let init = Command::new(cluster.bin.join("pgbench"))
        .args(["-i", "-q", "-s", "10", "-h", "127.0.0.1", "-p"])
        .arg(cluster.port.to_string())
        .args(["-U", "postgres", "pgbench10"])
        .env("PGPASSWORD", pg::SUPERUSER_PASSWORD)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );

    let port = slow_link(&rt, cluster.port, rtt);
    let sb = cli::Sb::new();
    // What every CLI command that opens the vault pays once: the master
    // password's key derivation (Argon2id, 19 MiB, 2 passes).
    let unlock = {
        let mut c = sb.cmd();
        c.args(["vault", "unlock"]);
        time("vault unlock", c);
        let mut c = sb.cmd();
        c.args(["vault", "unlock"]);
        time("vault unlock", c)
    };
    let mut lines = Vec::new();
    for db in ["tables300", "pgbench10"] {
        let url = format!(
            "postgresql://postgres:{}@127.0.0.1:{port}/{db}?sslmode=disable",
            pg::encode(pg::SUPERUSER_PASSWORD)
        );
        sb.add_project(db, &url);
        let mut dump = Command::new(cluster.bin.join("pg_dump"));
        dump.args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-f",
            "/dev/null",
            db,
        ])
        .env("PGPASSWORD", pg::SUPERUSER_PASSWORD);
        let t_dump = time("pg_dump", dump);
        let mut backup = sb.cmd();
        backup.args([
            "backup",
            db,
            "--kind",
            "full",
            "--profile",
            "postgres",
            "--json",
        ]);
        let t_sb = time("supabackup backup", backup);
        // The same without compression: the link's share, apart from the CPU
        // zstd takes from a machine that also runs the server and the link.
        let mut plain = sb.cmd();
        plain.args([
            "backup",
            db,
            "--kind",
            "full",
            "--profile",
            "postgres",
            "--compression",
            "none",
            "--json",
        ]);
        let t_plain = time("supabackup backup --compression none", plain);
        lines.push(format!(
            "{db}: one full pg_dump > /dev/null {:.1}s | supabackup full backup (zstd) {:.1}s, ratio {:.3} (goal <= 1.05) | uncompressed {:.1}s, ratio {:.3}",
            t_dump.as_secs_f64(),
            t_sb.as_secs_f64(),
            t_sb.as_secs_f64() / t_dump.as_secs_f64(),
            t_plain.as_secs_f64(),
            t_plain.as_secs_f64() / t_dump.as_secs_f64()
        ));
    }
    println!(
        "\nremote_backup ({} ms round trip through a delaying proxy; opening the vault costs {:.2}s of each backup):",
        rtt.as_millis(),
        unlock.as_secs_f64()
    );
    for l in lines {
        println!("  {l}");
    }
}
