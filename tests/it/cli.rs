//! Running the real `supabackup` binary on a fresh data dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The master password the tests use.
pub const MASTER: &str = "correct horse battery staple";

/// A fresh data dir and a way to run the binary on it.
pub struct Sb {
    /// Holds the data dir until the test ends.
    pub tmp: tempfile::TempDir,
    /// PostgreSQL bin folders put first on the binary's PATH (the suite's
    /// own always), so it finds their pg_dump and psql.
    pub bins: Vec<PathBuf>,
}

/// What a run printed and returned.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Panics with both streams unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts success.
    #[track_caller]
    pub fn ok(self) -> Self {
        self.expect_code(0)
    }

    /// Standard output parsed as JSON; panics with both streams if it is not.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", self.stdout, self.stderr))
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).to_string(),
            stderr: String::from_utf8_lossy(&o.stderr).to_string(),
        }
    }
}

impl Sb {
    /// A fresh data dir.
    pub fn new() -> Self {
        Self::with_bins(&[])
    }

    /// A fresh data dir, with these PostgreSQL bin folders on PATH too.
    pub fn with_bins(bins: &[PathBuf]) -> Self {
        let mut all = vec![crate::pg::pg_bin().to_path_buf()];
        all.extend(bins.iter().cloned());
        Sb {
            tmp: tempfile::tempdir().unwrap(),
            bins: all,
        }
    }

    /// The data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    /// A command with the data dir and master password set.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_supabackup"));
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(
            self.bins
                .iter()
                .cloned()
                .chain(std::env::split_paths(&path)),
        )
        .unwrap();
        c.env("PATH", path)
            .env("SUPABACKUP_DATA_DIR", self.data_dir())
            .env("SUPABACKUP_PASSWORD", MASTER)
            .env_remove("SUPABACKUP_DB_URL")
            .env_remove("PGPASSWORD");
        c
    }

    /// Runs with arguments.
    pub fn run(&self, args: &[&str]) -> Run {
        self.cmd()
            .args(args)
            .output()
            .expect("run supabackup")
            .into()
    }

    /// Runs with extra environment.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.cmd();
        for (k, v) in env {
            c.env(k, v);
        }
        c.args(args).output().expect("run supabackup").into()
    }

    /// `project add --name NAME --db-url URL`, which must succeed.
    pub fn add_project(&self, name: &str, url: &str) {
        self.run(&["project", "add", "--name", name, "--db-url", url])
            .ok();
    }

    /// Runs `backup PROJECT --json EXTRA...`, which must complete; the record.
    #[track_caller]
    pub fn backup(&self, project: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["backup", project, "--json"];
        args.extend_from_slice(extra);
        let r = self.run(&args);
        let v = r.json();
        assert_eq!(v["status"], "completed", "{}\n{}", r.stdout, r.stderr);
        assert_eq!(r.code, 0);
        v
    }

    /// `backups --json`: every backup record, newest first.
    #[track_caller]
    pub fn backups(&self) -> Vec<serde_json::Value> {
        self.run(&["backups", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .clone()
    }

    /// Every byte under the data dir, for "the secret is not there" checks.
    pub fn all_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        collect(&self.data_dir(), &mut out);
        out
    }
}

fn collect(dir: &Path, out: &mut Vec<u8>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            out.extend(b);
        }
    }
}

/// True when `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}
