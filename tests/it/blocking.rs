//! Making pg_dump block: a session holds an exclusive lock on public.big,
//! so a backup can be caught mid-dump deterministically.

use crate::pg::{PgCluster, SUPERUSER_PASSWORD};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A psql session holding ACCESS EXCLUSIVE on public.big until dropped.
pub struct Lock(Child);

impl Lock {
    /// Takes the lock and waits until it is granted.
    pub fn take(pg: &PgCluster) -> Lock {
        let mut child = pg
            .psql_cmd("postgres", SUPERUSER_PASSWORD, "postgres")
            .arg("-q")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(b"BEGIN;\nLOCK TABLE public.big IN ACCESS EXCLUSIVE MODE;\n")
            .unwrap();
        wait_for(
            pg,
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                      WHERE c.relname = 'big' AND l.mode = 'AccessExclusiveLock' AND l.granted",
        );
        Lock(child)
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls until `query` returns 1.
pub fn wait_for(pg: &PgCluster, query: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if pg.psql("postgres", query) == "1" {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for: {query}");
}

/// Waits until pg_dump sits blocked on the lock.
pub fn wait_dump_blocked(pg: &PgCluster) {
    wait_for(
        pg,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'supabackup' \
                  AND wait_event_type = 'Lock' AND query LIKE 'LOCK TABLE %'",
    );
}

/// The pg_dump processes working on this cluster.
pub fn pg_dump_pids(pg: &PgCluster) -> Vec<String> {
    let out = Command::new("pgrep")
        .args(["-f", &format!("pg_dump .*port='{}'", pg.port)])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}
