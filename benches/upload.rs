//! Upload throughput and peak memory of `supabackup sync` copying one
//! ~500 MB backup set (issue 12: peak RSS under 100 MB while uploading):
//! to a local S3 server (s3s-fs on 127.0.0.1, path-style, SigV4), and to a
//! folder destination on the same disk; beside `cp -r` of the set folder
//! and `dd bs=1M conv=fsync` of its files (what the disk does alone, in the
//! kernel and through user space), and beside a `sync` with nothing to copy
//! (what any command pays: start, vault unlock, catalog).
//!
//! The set: a table of md5 text backed up with `--compression none`, so
//! the bytes on disk are the bytes sent. Peak RSS is the child's VmHWM
//! (/proc/PID/status, polled every 20 ms until it exits); CPU seconds of
//! supabackup and of the S3 server are shown too (on 2 cores they share,
//! the server's work bounds the S3 figure). Each measurement runs
//! SUPABACKUP_BENCH_ROUNDS times (default 3; median shown), each to a fresh
//! destination, whose copy is deleted right after.
//!
//! `cargo bench --bench upload` (set size: SUPABACKUP_BENCH_MB, default
//! 500). Needs s3s-fs (`.ci/s3-server.sh install`) and PostgreSQL, like the
//! tests. MB here is 10^6 bytes.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../tests/it/pg.rs"]
mod pg;

#[allow(dead_code)] // The bench uses a few of the test harness's helpers.
#[path = "../tests/it/cli.rs"]
mod cli;

// Only the server harness is used; the tests in the file are compiled out.
#[allow(dead_code, unused_imports)]
#[path = "../tests/it/s3.rs"]
mod s3;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The goal of issue 12, in bytes.
const GOAL_PEAK: u64 = 100_000_000;
/// How often the child's memory is read.
const POLL: Duration = Duration::from_millis(20);

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A `kB` field of /proc/PID/status, in bytes (`None` once the process is
/// gone or a zombie).
fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// Clock ticks per second of /proc/PID/stat's times.
fn clk_tck() -> f64 {
    static TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// User + system CPU seconds of a live process.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After "pid (comm) ": state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clk_tck())
}

/// The pid of the process whose command line mentions `needle` (the S3
/// server, by its unique data dir).
fn pid_of(needle: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        (cmdline.contains("s3s-fs") && cmdline.contains(needle)).then_some(pid)
    })
}

/// One run of the binary, timed, its memory and CPU sampled.
struct Measured {
    /// Wall time from spawn to exit.
    took: Duration,
    /// The last VmHWM read: the peak resident set.
    peak: u64,
    /// When (since spawn) VmHWM first reached 95% of `peak`.
    peak_at: Duration,
    /// Its CPU seconds (user + system; the last reading, up to [`POLL`] short).
    cpu: f64,
    /// The CPU seconds `other` (a server it talks to) spent meanwhile.
    other_cpu: Option<f64>,
    /// Standard output.
    stdout: String,
}

/// Runs `cmd` to its end, polling its VmHWM and CPU time every [`POLL`]
/// (and the CPU time process `other` spent meanwhile); panics with its
/// output unless it exits 0.
fn measure(mut cmd: Command, what: &str, other: Option<u32>) -> Measured {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let other_before = other.and_then(cpu_secs);
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
    let pid = child.id();
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    // Waited for on a thread of its own: the exit time is exact, and the
    // pid is not reaped (and reused) while the loop below reads it.
    let waiter = std::thread::spawn(move || {
        let status = child.wait().unwrap();
        (status, Instant::now())
    });
    let (mut samples, mut cpu) = (Vec::new(), 0.0);
    while !waiter.is_finished() {
        if let Some(hwm) = status_bytes(pid, "VmHWM:") {
            samples.push((start.elapsed(), hwm));
        }
        if let Some(c) = cpu_secs(pid) {
            cpu = c;
        }
        std::thread::sleep(POLL);
    }
    let (status, ended) = waiter.join().unwrap();
    let other_cpu = other
        .and_then(cpu_secs)
        .zip(other_before)
        .map(|(after, before)| after - before);
    let peak = samples.last().map_or(0, |s| s.1);
    let peak_at = samples
        .iter()
        .find(|s| s.1 * 100 >= peak * 95)
        .map_or(Duration::ZERO, |s| s.0);
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        status.success(),
        "{what}: {status}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(peak > 0, "{what}: no memory reading (exited too fast?)");
    Measured {
        took: ended - start,
        peak,
        peak_at,
        cpu,
        other_cpu,
        stdout,
    }
}

/// Runs a shell command; its wall time.
fn time_sh(script: &str) -> Duration {
    let start = Instant::now();
    let out = Command::new("sh").args(["-c", script]).output().unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

/// Writes every dirty page out, so one measurement does not pay for the
/// previous one's writes.
fn flush() {
    time_sh("sync");
}

/// Every file's size under `dir`, summed; and how many files.
fn tree_size(dir: &Path) -> (u64, usize) {
    let (mut bytes, mut files) = (0, 0);
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = e.metadata().unwrap();
        if meta.is_dir() {
            let (b, f) = tree_size(&e.path());
            bytes += b;
            files += f;
        } else {
            bytes += meta.len();
            files += 1;
        }
    }
    (bytes, files)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Adds destination `name` (`add` holds its flags), makes it the project's
/// only copy target, and times `supabackup sync --json`, which must copy
/// the one backup there. `server`: the pid whose CPU time is taken too.
fn sync_to(
    sb: &cli::Sb,
    name: &str,
    add: &[&str],
    env: &[(&str, &str)],
    server: Option<u32>,
) -> Measured {
    let mut args = vec!["destination", "add", name];
    args.extend_from_slice(add);
    sb.run_env(&args, env).ok();
    sb.run(&["project", "edit", "bench", "--copy-to", name])
        .ok();
    flush();
    let mut cmd = sb.cmd();
    cmd.args(["sync", "--json"]);
    let m = measure(cmd, &format!("sync to {name}"), server);
    let report: serde_json::Value = serde_json::from_str(&m.stdout).unwrap();
    assert_eq!(
        report["copied"].as_array().map(Vec::len),
        Some(1),
        "sync to {name}: {report}"
    );
    assert_eq!(report["failed"], serde_json::json!([]), "{report}");
    m
}

/// Two lines: median seconds, MB/s, peak RSS; then CPU and each run.
fn line(what: &str, set: u64, runs: &[Measured]) -> (String, f64) {
    let secs = median(runs.iter().map(|m| m.took.as_secs_f64()).collect());
    let peak = median(runs.iter().map(|m| m.peak as f64).collect());
    let cpu = median(runs.iter().map(|m| m.cpu).collect());
    let server = runs
        .iter()
        .map(|m| m.other_cpu)
        .collect::<Option<Vec<f64>>>()
        .map(|v| format!(", the S3 server {:.1}s", median(v)))
        .unwrap_or_default();
    let all: Vec<String> = runs
        .iter()
        .map(|m| {
            format!(
                "{:.2}s {:.1}MB (95% of it at {:.1}s)",
                m.took.as_secs_f64(),
                mb(m.peak),
                m.peak_at.as_secs_f64()
            )
        })
        .collect();
    (
        format!(
            "{what}: {secs:.2}s, {:.0} MB/s, peak RSS {:.1} MB ({:.1} MiB)\n      \
             CPU: supabackup {cpu:.1}s{server}; runs: {}",
            mb(set) / secs,
            peak / 1e6,
            peak / 1048576.0,
            all.join(", ")
        ),
        peak,
    )
}

fn main() {
    let target = env_num("SUPABACKUP_BENCH_MB", 500) * 1_000_000;
    let rounds = env_num("SUPABACKUP_BENCH_ROUNDS", 3).max(1) as usize;

    // The set: rows of 128 hex characters; about 137 bytes each in COPY text.
    let rows = target / 137;
    let sb = cli::Sb::new();
    let set_dir: PathBuf;
    {
        let cluster = pg::PgCluster::start();
        eprintln!(
            "generating {rows} rows (~{} MB of COPY text)...",
            target / 1_000_000
        );
        cluster.psql(
            "postgres",
            &format!(
                "CREATE TABLE blob (id bigint PRIMARY KEY, body text NOT NULL); \
                 INSERT INTO blob SELECT g, md5(g::text) || md5((g * 3)::text) \
                        || md5((g * 7)::text) || md5((g * 11)::text) \
                 FROM generate_series(1, {rows}) g;"
            ),
        );
        sb.add_project("bench", &cluster.url("postgres"));
        eprintln!("backing it up (--compression none)...");
        let b = sb.backup("bench", &["--profile", "postgres", "--compression", "none"]);
        set_dir = PathBuf::from(b["path"].as_str().unwrap());
        // The database is not needed any more: its memory and disk back.
    }
    let (set, files) = tree_size(&set_dir);
    eprintln!(
        "set: {} ({files} files, {:.1} MB)",
        set_dir.display(),
        mb(set)
    );

    let server = s3::S3Server::start();
    let server_pid = pid_of(server.dir().to_str().unwrap());
    let scratch = tempfile::tempdir().unwrap();
    let secret = [(
        "SUPABACKUP_S3_SECRET_ACCESS_KEY",
        server.secret_key.as_str(),
    )];

    // What every command pays without copying a byte.
    let mut idle = Vec::new();
    for _ in 0..rounds {
        let mut cmd = sb.cmd();
        cmd.args(["sync", "--json"]);
        idle.push(measure(cmd, "sync with nothing to copy", None));
    }

    let (mut s3_runs, mut folder_runs) = (Vec::new(), Vec::new());
    let (mut cp, mut cp_fsync, mut dd) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        eprintln!("round {} of {rounds}...", round + 1);
        let name = format!("s3-{round}");
        let prefix = format!("bench{round}");
        let url = format!("s3://{}/{prefix}", server.bucket);
        s3_runs.push(sync_to(
            &sb,
            &name,
            &[
                "--s3",
                &url,
                "--endpoint",
                &server.endpoint,
                "--path-style",
                "--access-key-id",
                &server.access_key,
            ],
            &secret,
            server_pid,
        ));
        let uploaded = server.dir().join(&server.bucket).join(&prefix);
        let (up_bytes, up_files) = tree_size(&uploaded);
        assert_eq!(
            (up_bytes, up_files),
            (set, files),
            "the bucket holds the set"
        );
        std::fs::remove_dir_all(&uploaded).unwrap();

        let nas = scratch.path().join(format!("nas{round}"));
        std::fs::create_dir_all(&nas).unwrap();
        folder_runs.push(sync_to(
            &sb,
            &format!("nas-{round}"),
            &["--folder", nas.to_str().unwrap()],
            &[],
            None,
        ));
        assert_eq!(tree_size(&nas), (set, files), "the folder holds the set");
        std::fs::remove_dir_all(&nas).unwrap();

        let copy = scratch.path().join(format!("cp{round}"));
        flush();
        cp.push(
            time_sh(&format!(
                "cp -r '{}' '{}'",
                set_dir.display(),
                copy.display()
            ))
            .as_secs_f64(),
        );
        let fsync = time_sh(&format!(
            "find '{}' -type f -exec sync {{}} +",
            copy.display()
        ));
        cp_fsync.push(cp[round] + fsync.as_secs_f64());
        std::fs::remove_dir_all(&copy).unwrap();

        // cp copies inside the kernel (copy_file_range); dd goes through a
        // 1 MiB buffer in user space, as supabackup does.
        std::fs::create_dir_all(&copy).unwrap();
        flush();
        dd.push(
            time_sh(&format!(
                "for f in '{}'/*; do dd if=\"$f\" of='{}'/\"${{f##*/}}\" bs=1M conv=fsync \
                 status=none; done",
                set_dir.display(),
                copy.display()
            ))
            .as_secs_f64(),
        );
        assert_eq!(tree_size(&copy), (set, files), "dd copied the set");
        std::fs::remove_dir_all(&copy).unwrap();
    }
    drop(server);

    let idle_secs = median(idle.iter().map(|m| m.took.as_secs_f64()).collect());
    let idle_peak = median(idle.iter().map(|m| m.peak as f64).collect());
    let (s3_line, s3_peak) = line("S3 (s3s-fs, 127.0.0.1)", set, &s3_runs);
    let (folder_line, folder_peak) = line("folder destination", set, &folder_runs);
    let (cp_secs, cp_fsync_secs, dd_secs) = (median(cp), median(cp_fsync), median(dd));
    println!(
        "\nupload ({:.1} MB set, {files} files, --compression none; {} cores; median of {rounds}):",
        mb(set),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("  supabackup sync --json to");
    println!("    {s3_line}");
    println!("    {folder_line}");
    println!(
        "  sync with nothing to copy (start, vault unlock, catalog): {idle_secs:.2}s, peak RSS {:.1} MB",
        idle_peak / 1e6
    );
    println!(
        "  cp -r of the set folder: {cp_secs:.2}s, {:.0} MB/s; with an fsync of each file (as the \
         folder destination does): {cp_fsync_secs:.2}s, {:.0} MB/s",
        mb(set) / cp_secs,
        mb(set) / cp_fsync_secs
    );
    println!(
        "  dd bs=1M conv=fsync of each file (a user-space copy): {dd_secs:.2}s, {:.0} MB/s",
        mb(set) / dd_secs
    );
    let verdict = |peak: f64| {
        if peak < GOAL_PEAK as f64 {
            "met"
        } else {
            "NOT met"
        }
    };
    println!(
        "  goal: peak RSS < 100 MB while uploading: S3 {} ({:.1} MB), folder {} ({:.1} MB)",
        verdict(s3_peak),
        s3_peak / 1e6,
        verdict(folder_peak),
        folder_peak / 1e6
    );
}
