//! A throwaway PostgreSQL cluster per test: initdb once into a template,
//! copy it per cluster, run as `postgres` when the tests run as root,
//! listen on 127.0.0.1 on a free port, stop and remove it on drop. A
//! watchdog shell process cleans up too if the test binary is killed.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The superuser password every test cluster uses (scram-sha-256 auth, so
/// the password really has to reach the tools).
pub const SUPERUSER_PASSWORD: &str = "pg pw:with@odd/chars";

/// Where initdb/pg_ctl/postgres live.
pub fn pg_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(find_pg_bin)
}

/// The major version of the install in `bin`.
pub fn major_of(bin: &Path) -> u32 {
    let out = Command::new(bin.join("postgres"))
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("run {}/postgres --version: {e}", bin.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find_map(|w| w.split('.').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no version in {text:?}"))
}

/// The major version the suite runs on (`SUPABACKUP_TEST_PG_BIN` or the one found).
pub fn suite_major() -> u32 {
    static MAJOR: OnceLock<u32> = OnceLock::new();
    *MAJOR.get_or_init(|| major_of(pg_bin()))
}

/// A full install of PostgreSQL `major`: the suite's own, Debian's
/// `/usr/lib/postgresql/<major>/bin`, or the one `.ci/pg-majors.sh`
/// installed (`SUPABACKUP_PG_CACHE`, default `/var/cache/supabackup-pg` as
/// root, `~/.cache/supabackup-pg` otherwise).
pub fn bin_for_major(major: u32) -> PathBuf {
    if suite_major() == major {
        return pg_bin().to_path_buf();
    }
    let mut candidates = vec![PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"))];
    if let Ok(cache) = std::env::var("SUPABACKUP_PG_CACHE") {
        candidates.push(PathBuf::from(cache).join(major.to_string()).join("bin"));
    }
    candidates.push(PathBuf::from(format!(
        "/var/cache/supabackup-pg/{major}/bin"
    )));
    if let Ok(home) = std::env::var("HOME") {
        candidates.push(PathBuf::from(home).join(format!(".cache/supabackup-pg/{major}/bin")));
    }
    candidates
        .into_iter()
        .find(|b| b.join("initdb").is_file() && b.join("pg_dump").is_file())
        .unwrap_or_else(|| {
            panic!(
                "this test needs PostgreSQL {major}: run `.ci/pg-majors.sh {major}` (it installs \
                 one under /var/cache/supabackup-pg), or point SUPABACKUP_PG_CACHE at such a folder"
            )
        })
}

fn find_pg_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SUPABACKUP_TEST_PG_BIN") {
        return PathBuf::from(p);
    }
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if initdb.is_file() {
                let real = initdb.canonicalize().unwrap_or(initdb);
                return real.parent().unwrap().to_path_buf();
            }
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    found.retain(|p| p.join("initdb").is_file());
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop().unwrap_or_else(|| {
        panic!(
            "no PostgreSQL server binaries (initdb) found in PATH or /usr/lib/postgresql/*/bin: \
             install postgresql (apt-get install postgresql) or set SUPABACKUP_TEST_PG_BIN"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// uid and gid of the `postgres` user, when running as root.
fn run_as() -> Option<(u32, u32)> {
    static IDS: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *IDS.get_or_init(|| {
        if !is_root() {
            return None;
        }
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        let line = passwd.lines().find(|l| l.starts_with("postgres:"))?;
        let f: Vec<&str> = line.split(':').collect();
        Some((f[2].parse().ok()?, f[3].parse().ok()?))
    })
}

fn as_pg_user(cmd: &mut Command) -> &mut Command {
    if let Some((uid, gid)) = run_as() {
        cmd.uid(uid).gid(gid);
    }
    cmd.env_remove("PGPASSWORD").env("LC_ALL", "C")
}

fn chown_tree(path: &Path) {
    if let Some((uid, gid)) = run_as() {
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(path)
            .status()
            .expect("chown");
        assert!(status.success());
    }
}

fn scratch_root() -> PathBuf {
    let root = std::env::temp_dir().join("supabackup-tests");
    std::fs::create_dir_all(&root).unwrap();
    // The postgres user must be able to reach its folders below.
    Command::new("chmod").arg("0755").arg(&root).status().ok();
    root
}

/// The initdb'd template the clusters of one install and bootstrap
/// superuser copy.
fn template(bin: &Path, superuser: &str) -> PathBuf {
    static TEMPLATES: std::sync::Mutex<Vec<((PathBuf, String), PathBuf)>> =
        std::sync::Mutex::new(Vec::new());
    let mut made = TEMPLATES.lock().unwrap_or_else(|p| p.into_inner());
    let key = (bin.to_path_buf(), superuser.to_string());
    if let Some((_, dir)) = made.iter().find(|(k, _)| *k == key) {
        return dir.clone();
    }
    let dir = scratch_root().join(format!("template-{}-{}", std::process::id(), made.len()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pwfile = dir.join("pwfile");
    std::fs::write(&pwfile, SUPERUSER_PASSWORD).unwrap();
    chown_tree(&dir);
    let out = as_pg_user(
        Command::new(bin.join("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-U",
                superuser,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display())),
    )
    .output()
    .expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&pwfile).ok();
    watchdog(&dir, None);
    made.push((key, dir.clone()));
    dir
}

/// Removes `dir` (and stops the postmaster in it) once this test process is gone.
fn watchdog(dir: &Path, data: Option<&Path>) {
    let stop = data
        .map(|d| {
            format!(
                "if [ -f '{0}/postmaster.pid' ]; then kill -QUIT $(head -1 '{0}/postmaster.pid') 2>/dev/null; sleep 1; fi; ",
                d.display()
            )
        })
        .unwrap_or_default();
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop}rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.display()
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok();
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running cluster.
pub struct PgCluster {
    dir: PathBuf,
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// The install it runs from.
    pub bin: PathBuf,
    /// Its bootstrap superuser.
    pub superuser: String,
    stopped: bool,
}

impl PgCluster {
    /// Starts a fresh cluster of the suite's major.
    pub fn start() -> Self {
        Self::start_in(pg_bin(), "postgres")
    }

    /// Starts a fresh cluster of PostgreSQL `major`.
    pub fn start_major(major: u32) -> Self {
        Self::start_in(&bin_for_major(major), "postgres")
    }

    /// Starts a fresh cluster from the install in `bin`, initialised with
    /// `superuser` as its bootstrap superuser.
    pub fn start_in(bin: &Path, superuser: &str) -> Self {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = scratch_root().join(format!("pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("cp")
            .arg("-a")
            .arg(template(bin, superuser).join("data"))
            .arg(dir.join("data"))
            .status()
            .unwrap();
        assert!(status.success(), "copy the template cluster");
        chown_tree(&dir);
        watchdog(&dir, Some(&dir.join("data")));
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let out = as_pg_user(
                Command::new(bin.join("pg_ctl"))
                    .arg("-D")
                    .arg(dir.join("data"))
                    .arg("-o")
                    .arg(format!(
                        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                         -c max_connections=40 -c wal_level=logical",
                        dir.display()
                    ))
                    .arg("-l")
                    .arg(dir.join("log"))
                    .args(["-w", "-t", "30", "start"]),
            )
            .output()
            .expect("run pg_ctl");
            if out.status.success() {
                let c = PgCluster {
                    dir,
                    port,
                    bin: bin.to_path_buf(),
                    superuser: superuser.to_string(),
                    stopped: false,
                };
                c.wait_ready();
                return c;
            }
            last_err = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        }
        panic!("PostgreSQL did not start: {last_err}");
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.try_psql("postgres", "SELECT 1").status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "PostgreSQL on port {} never accepted connections",
            self.port
        );
    }

    /// `postgresql://<superuser>:<pw>@127.0.0.1:<port>/<db>` (password encoded).
    pub fn url(&self, db: &str) -> String {
        self.url_as(&self.superuser, SUPERUSER_PASSWORD, db)
    }

    /// The server's major version.
    pub fn major(&self) -> u32 {
        major_of(&self.bin)
    }

    /// A URL for another role.
    pub fn url_as(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "postgresql://{user}:{}@127.0.0.1:{}/{db}?sslmode=disable",
            encode(password),
            self.port
        )
    }

    /// Runs SQL through psql as the superuser; the output (-At) on success.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self.try_psql(db, sql);
        assert!(
            out.status.success(),
            "psql failed: {}\nSQL: {}",
            String::from_utf8_lossy(&out.stderr),
            &sql[..sql.len().min(2000)]
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    /// Runs SQL through psql; the raw output.
    pub fn try_psql(&self, db: &str, sql: &str) -> Output {
        self.psql_cmd(&self.superuser, SUPERUSER_PASSWORD, db)
            .args(["-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGCONNECT_TIMEOUT", "5")
            .output()
            .expect("run psql")
    }

    /// `psql -X` connected to `db` on this cluster as `user` (password in
    /// PGPASSWORD); add the rest of the arguments.
    pub fn psql_cmd(&self, user: &str, password: &str, db: &str) -> Command {
        let mut c = Command::new(self.bin.join("psql"));
        c.args(["-X", "-h", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(["-U", user, "-d", db])
            .env("PGPASSWORD", password);
        c
    }

    /// Creates a database.
    pub fn create_db(&self, name: &str) {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
    }

    /// `pg_dump` of `db` (schema and rows, this cluster's own pg_dump) without
    /// psql's `\restrict` guard lines, whose key differs on every run.
    pub fn dump_text(&self, db: &str) -> String {
        let out = Command::new(self.bin.join("pg_dump"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                &self.superuser,
            ])
            .arg(db)
            .env("PGPASSWORD", SUPERUSER_PASSWORD)
            .output()
            .expect("run pg_dump");
        assert!(
            out.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("\\restrict ") && !l.starts_with("\\unrestrict "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stops the server at once (as a crash or an outage would).
    pub fn stop_now(&mut self) {
        if self.stopped {
            return;
        }
        let _ = as_pg_user(
            Command::new(self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "immediate", "-w", "stop"]),
        )
        .output();
        self.stopped = true;
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop_now();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Percent-encodes for a URL user-info part.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
