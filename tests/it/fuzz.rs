//! Fuzzing every flag that takes a URL, an endpoint, a recipient, a number
//! or a duration, through the real binary: inputs made by mutating good
//! values (control characters, non-ASCII, brackets, ports out of range,
//! long hosts, signs, overflows...), deterministic so a failure repeats.
//! No input may panic; a refused one (a non-zero exit) changes nothing in
//! the catalog; an accepted endpoint or URL is then used (tested, backed
//! up to, listed) without a panic either.

use crate::cli::{Run, Sb};
use crate::hostile::{NOWHERE, no_panic};
use serde_json::Value;
use std::time::Duration;
use supabackup::domain::SettingKey;
use supabackup::store::Catalog;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// Characters that break URLs, hosts, keys and numbers in interesting ways
/// (no NUL: an argument cannot hold one).
const NASTY: &[&str] = &[
    "\x04",
    "\x07",
    "\t",
    "\n",
    "\r",
    "\x1b",
    "\x7f",
    " ",
    "é",
    "ß",
    "\u{202e}",
    "\u{feff}",
    "\u{ff15}",
    "😀",
    "%",
    "%00",
    "%zz",
    "[",
    "]",
    ":",
    "@",
    "#",
    "?",
    "/",
    "\\",
    "..",
    "\"",
    "'",
    "<",
    ">",
    "{",
    "}",
    "|",
    "^",
    "`",
    "*",
    "=",
    ",",
    ";",
    "-",
    "+",
    "0",
    "99999",
    "65536",
    "18446744073709551616",
];

/// `seed` mutated once or a few times: a nasty piece inserted, a part
/// repeated, cut, or replaced.
fn mutate(rng: &mut Rng, seed: &str) -> String {
    let mut s: Vec<char> = seed.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(s.len() + 1);
        match rng.below(6) {
            0 | 1 => {
                let piece: Vec<char> = rng.pick(NASTY).chars().collect();
                s.splice(at..at, piece);
            }
            2 => s.truncate(at),
            3 if !s.is_empty() => {
                let end = (at + 1 + rng.below(4)).min(s.len());
                let start = at.min(end);
                s.drain(start..end);
            }
            4 => {
                let long: Vec<char> = "a".repeat(60 + rng.below(300)).chars().collect();
                s.splice(at..at, long);
            }
            _ => {
                let piece: Vec<char> = rng.pick(NASTY).chars().collect();
                if at < s.len() {
                    s[at] = piece[0];
                }
            }
        }
    }
    s.into_iter().collect()
}

/// Good URLs of each kind, and known-bad ones from the reports.
const ENDPOINTS: &[&str] = &[
    "http://127.0.0.1:9000",
    "https://s3.eu-central-1.amazonaws.com",
    "http://[2001:db8::1]:9000",
    "https://abcdefghij.storage.supabase.co/storage/v1/s3",
    "http://localhost:54321/storage/v1",
    "http://127.0.0.1:9000\x04",
    "http://[2001:db8::1]:99999",
    "http://[g::1]/",
    "http://[fe80::1%eth0]:9000",
    "http://1",
    "http://127.0.0.1:9000é",
    "",
    "http://",
    "https://:443",
    "http://0.0.0.0:0",
];

const DB_URLS: &[&str] = &[
    "postgresql://postgres:pw@127.0.0.1:1/postgres",
    "postgres://u@[::1]:5432/db?sslmode=require",
    "host=127.0.0.1 port=1 user=postgres dbname=x",
    "postgresql://postgres:p%40ss@db.abcdefghij.supabase.co:5432/postgres",
];

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "3",
    "-1",
    "19",
    "20",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "1e3",
    " 5",
    "0x10",
    "",
    "NaN",
    "３",
    "2.5",
    "99999999999999999999999999",
];

const RECIPIENTS: &[&str] = &[
    "age1bogus",
    "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
    "AGE-SECRET-KEY-1QQQ",
    "",
    "ssh-ed25519 AAAA",
];

const CRONS: &[&str] = &["0 3 * * *", "@hourly", "*/5 * * * *", "0 0 31 2 *"];

/// The catalog's contents, as JSON text (secrets sealed, compared as bytes).
fn catalog_state(sb: &Sb) -> String {
    let catalog = Catalog::open(&sb.data_dir().join("catalog.redb")).unwrap();
    let settings: Vec<Option<String>> = SettingKey::ALL
        .iter()
        .map(|k| catalog.setting(k.as_str()).unwrap())
        .collect();
    serde_json::json!({
        "projects": serde_json::to_value(catalog.projects().unwrap()).unwrap(),
        "destinations": serde_json::to_value(catalog.destinations().unwrap()).unwrap(),
        "jobs": serde_json::to_value(catalog.jobs().unwrap()).unwrap(),
        "backups": serde_json::to_value(catalog.backups().unwrap()).unwrap(),
        "settings": settings,
    })
    .to_string()
}

/// One fuzzed run: no panic; refused (non-zero exit), nothing changed.
/// `changes_on_failure`: a command that may write on exit 1 (a backup that
/// starts and fails): then only exit 2 must leave the catalog as it was.
struct Fuzz<'a> {
    sb: &'a Sb,
    runs: usize,
    accepted: usize,
    /// The catalog after the last refused run (nothing ran since).
    last: Option<String>,
}

impl Fuzz<'_> {
    fn run(&mut self, args: &[&str], env: &[(&str, &str)], changes_on_failure: bool) -> Run {
        let before = match self.last.take() {
            Some(state) => state,
            None => catalog_state(self.sb),
        };
        let mut c = self.sb.cmd();
        for (k, v) in env {
            c.env(k, v);
        }
        let r = Run::from(
            c.args(args)
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap(),
        );
        self.runs += 1;
        let shown = format!("{args:?}");
        no_panic(&shown, &r);
        assert!(
            [0, 1, 2].contains(&r.code),
            "{shown}: exit {}\n{}",
            r.code,
            r.stderr
        );
        let refused = r.code == 2 || (r.code == 1 && !changes_on_failure);
        if refused {
            assert!(
                r.stderr.contains("error"),
                "{shown}: refused without saying why: {}",
                r.stderr
            );
            assert_eq!(
                catalog_state(self.sb),
                before,
                "{shown} was refused but changed state"
            );
            self.last = Some(before);
        } else {
            self.accepted += 1;
        }
        r
    }
}

/// True when a URL's host is this machine (a test connects there only: no
/// name lookups, no waiting for an unroutable address).
fn local_host(url: &str) -> bool {
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    host.starts_with("[::1]")
        || host.starts_with("localhost")
        || host
            .split(':')
            .next()
            .and_then(|h| h.parse::<std::net::Ipv4Addr>().ok())
            .is_some_and(|ip| ip.is_loopback())
}

/// A data dir with project "p" (its database nowhere: nothing here
/// connects to one) and a folder destination "nas".
fn setup() -> Sb {
    let sb = Sb::new();
    sb.add_project("p", NOWHERE);
    let nas = sb.tmp.path().join("nas");
    std::fs::create_dir_all(&nas).unwrap();
    sb.run(&[
        "destination",
        "add",
        "nas",
        "--folder",
        nas.to_str().unwrap(),
    ])
    .ok();
    sb
}

impl<'a> Fuzz<'a> {
    fn new(sb: &'a Sb) -> Self {
        Fuzz {
            sb,
            runs: 0,
            accepted: 0,
            last: None,
        }
    }

    /// At the end: enough was tried, some of it accepted, and the project
    /// still reads.
    #[track_caller]
    fn done(&self, at_least: usize) {
        let v: Value = self.sb.run(&["project", "show", "p", "--json"]).ok().json();
        assert_eq!(v["name"], "p");
        assert!(self.runs >= at_least, "only {} runs", self.runs);
        assert!(
            self.accepted > 0 && self.accepted < self.runs,
            "{} of {} accepted: the inputs are off",
            self.accepted,
            self.runs
        );
        eprintln!("fuzz: {} runs, {} accepted", self.runs, self.accepted);
    }
}

const S3_ENV: [(&str, &str); 1] = [("SUPABACKUP_S3_SECRET_ACCESS_KEY", "fuzz-secret")];
const STORAGE_ENV: [(&str, &str); 1] = [("SUPABACKUP_STORAGE_S3_SECRET", "fuzz-secret")];

/// The fixed numbers and a few mutated ones.
fn numbers(rng: &mut Rng) -> Vec<String> {
    let mut numbers: Vec<String> = NUMBERS.iter().map(|s| s.to_string()).collect();
    for _ in 0..2 {
        let seed = rng.pick(&["3", "3600", "30"]);
        numbers.push(mutate(rng, seed));
    }
    numbers
}

/// Good and known-bad endpoints, and `n` mutations of the good ones.
fn urls(rng: &mut Rng, n: usize) -> Vec<String> {
    let mut urls: Vec<String> = ENDPOINTS.iter().map(|s| s.to_string()).collect();
    for _ in 0..n {
        let seed = rng.pick(&ENDPOINTS[..5]);
        urls.push(mutate(rng, seed));
    }
    urls
}

#[test]
fn fuzzed_destination_endpoints_prefixes_and_regions_never_panic_or_half_apply() {
    let sb = setup();
    let mut rng = Rng(0x5eed_2301_dead_beef);
    let mut f = Fuzz::new(&sb);
    // S3 destinations: --endpoint, --s3, --region.
    let mut n = 0;
    let endpoint_inputs = urls(&mut rng, 45);
    for e in &endpoint_inputs {
        n += 1;
        let name = format!("d{n}");
        let r = f.run(
            &[
                "destination",
                "add",
                &name,
                "--s3",
                "s3://bk1/pre",
                "--endpoint",
                e,
                "--path-style",
                "--access-key-id",
                "AKIAFUZZ",
                "--no-test",
            ],
            &S3_ENV,
            false,
        );
        // An accepted endpoint is used: shown, tested (IP literals only:
        // no name lookups from a test), then removed.
        if r.code == 0 {
            let shown = sb.run(&["destination", "show", &name]);
            no_panic("destination show", &shown);
            if local_host(e) {
                let t = sb.run_within(&["destination", "test", &name], Duration::from_secs(60));
                no_panic(&format!("destination test {e:?}"), &t);
            }
            sb.run(&["destination", "remove", &name, "--yes"]).ok();
        }
    }
    for _ in 0..20 {
        let s3 = mutate(&mut rng, "s3://bk1/team/pg");
        let region = mutate(&mut rng, "eu-central-1");
        for (flag, value) in [("--s3", s3.as_str()), ("--region", region.as_str())] {
            let (s3v, regionv) = if flag == "--s3" {
                (value, "us-east-1")
            } else {
                ("s3://bk1/pre", value)
            };
            let r = f.run(
                &[
                    "destination",
                    "add",
                    "dx",
                    "--s3",
                    s3v,
                    "--endpoint",
                    "http://127.0.0.1:1",
                    "--region",
                    regionv,
                    "--path-style",
                    "--access-key-id",
                    "AKIAFUZZ",
                    "--no-test",
                ],
                &S3_ENV,
                false,
            );
            if r.code == 0 {
                let t = sb.run_within(&["destination", "test", "dx"], Duration::from_secs(60));
                no_panic(&format!("destination test {flag} {value:?}"), &t);
                sb.run(&["destination", "remove", "dx", "--yes"]).ok();
            }
        }
    }

    f.done(100);
}

#[test]
fn fuzzed_storage_urls_on_project_add_and_edit_never_panic_or_half_apply() {
    let sb = setup();
    let mut rng = Rng(0x5eed_2302_dead_beef);
    let mut f = Fuzz::new(&sb);
    let urls = urls(&mut rng, 30);
    let s3_rest = [
        "--storage-s3-region",
        "eu-central-1",
        "--storage-s3-access-key-id",
        "k",
    ];
    let mut cases: Vec<(&str, &String)> = Vec::new();
    cases.extend(urls.iter().map(|u| ("--api-url", u)));
    cases.extend(urls.iter().map(|u| ("--storage-s3-endpoint", u)));
    project_cases(&mut f, &cases, &s3_rest);
    f.done(150);
}

#[test]
fn fuzzed_recipients_and_connection_strings_on_project_add_and_edit_never_panic_or_half_apply() {
    let sb = setup();
    let mut rng = Rng(0x5eed_2303_dead_beef);
    let mut f = Fuzz::new(&sb);
    let mut recipients: Vec<String> = RECIPIENTS.iter().map(|s| s.to_string()).collect();
    for _ in 0..12 {
        recipients.push(mutate(&mut rng, RECIPIENTS[1]));
    }
    let mut db_urls: Vec<String> = DB_URLS.iter().map(|s| s.to_string()).collect();
    for _ in 0..30 {
        let seed = rng.pick(DB_URLS);
        db_urls.push(mutate(&mut rng, seed));
    }
    let mut cases: Vec<(&str, &String)> = Vec::new();
    cases.extend(recipients.iter().map(|u| ("--encrypt-to", u)));
    cases.extend(db_urls.iter().map(|u| ("--db-url", u)));
    project_cases(&mut f, &cases, &[]);
    // restore's --to-url and verify's --restore-to, on a folder that is no
    // set: the URL is checked first, then the folder refused.
    let folder = sb.tmp.path().join("not-a-set");
    std::fs::create_dir_all(&folder).unwrap();
    for url in db_urls.iter().take(20) {
        f.run(
            &[
                "restore",
                folder.to_str().unwrap(),
                "--to-url",
                url,
                "--yes",
            ],
            &[],
            false,
        );
        f.run(
            &["verify", folder.to_str().unwrap(), "--restore-to", url],
            &[],
            false,
        );
    }
    f.done(140);
}

/// `project add` and `project edit` with each (flag, value); `s3_rest`:
/// the other Storage S3 flags, given with `--storage-s3-endpoint`. An
/// accepted value is used (shown, listed, `project test` when it points at
/// this machine), then undone.
fn project_cases(f: &mut Fuzz<'_>, cases: &[(&str, &String)], s3_rest: &[&str]) {
    let sb = f.sb;
    for (i, (flag, value)) in cases.iter().enumerate() {
        let name = format!("f{i}");
        let mut add = vec!["project", "add", "--name", name.as_str()];
        if *flag != "--db-url" {
            add.extend_from_slice(&["--db-url", NOWHERE]);
        }
        add.extend_from_slice(&[flag, value.as_str()]);
        if *flag == "--storage-s3-endpoint" {
            add.extend_from_slice(s3_rest);
        }
        let r = f.run(&add, &STORAGE_ENV, false);
        if r.code == 0 {
            for args in [
                &["project", "show", name.as_str(), "--json"][..],
                &["project", "list"],
            ] {
                no_panic(&format!("{args:?} after {flag} {value:?}"), &sb.run(args));
            }
            let as_http = value.replacen("postgresql://", "http://", 1);
            let local = match *flag {
                "--encrypt-to" => true,
                "--db-url" => local_host(&as_http),
                _ => local_host(value),
            };
            if local {
                let t = sb.run_within(&["project", "test", &name], Duration::from_secs(60));
                no_panic(&format!("project test after {flag} {value:?}"), &t);
            }
            sb.run(&["project", "remove", &name, "--yes"]).ok();
        }
        // The same on an edit of the existing project, with a field that
        // must not be applied when the value is refused.
        let mut edit = vec![
            "project",
            "edit",
            "p",
            "--description",
            "fuzzed",
            flag,
            value,
        ];
        if *flag == "--storage-s3-endpoint" {
            edit.extend_from_slice(s3_rest);
        }
        let r = f.run(&edit, &STORAGE_ENV, false);
        if r.code == 0 {
            // Back to a known state for the next case.
            sb.run_env(
                &[
                    "project",
                    "edit",
                    "p",
                    "--db-url",
                    NOWHERE,
                    "--api-url",
                    "",
                    "--no-storage-s3",
                    "--no-encryption",
                    "--description",
                    "",
                ],
                &STORAGE_ENV,
            )
            .ok();
        }
    }
}

#[test]
fn fuzzed_schedule_numbers_durations_crons_and_webhooks_never_panic_or_half_apply() {
    let sb = setup();
    let mut rng = Rng(0x5eed_2304_dead_beef);
    let mut f = Fuzz::new(&sb);
    // Schedules: numbers, durations, the webhook URL, the cron line.
    let mut webhooks: Vec<String> = vec!["https://hooks.example.com/x?token=1".into()];
    for _ in 0..15 {
        let seed = rng.pick(&ENDPOINTS[..5]);
        webhooks.push(mutate(&mut rng, seed));
    }
    let numbers = numbers(&mut rng);
    let mut crons: Vec<String> = CRONS.iter().map(|s| s.to_string()).collect();
    for _ in 0..8 {
        let seed = rng.pick(CRONS);
        crons.push(mutate(&mut rng, seed));
    }
    let number_flags = [
        "--keep-last",
        "--keep-days",
        "--keep-hourly",
        "--keep-daily",
        "--keep-weekly",
        "--keep-monthly",
        "--keep-yearly",
        "--timeout",
        "--retries",
        "--level",
    ];
    let mut schedule_cases: Vec<(&str, &String)> = Vec::new();
    for flag in number_flags {
        // Every flag gets the fixed numbers and a few of the mutated ones.
        let take = NUMBERS.len() + 2;
        schedule_cases.extend(numbers.iter().take(take).map(|v| (flag, v)));
    }
    schedule_cases.extend(webhooks.iter().map(|v| ("--webhook", v)));
    schedule_cases.extend(crons.iter().map(|v| ("--cron", v)));
    for (flag, value) in schedule_cases {
        let cron = if flag == "--cron" {
            value.as_str()
        } else {
            "0 3 * * *"
        };
        let mut args = vec!["schedule", "add", "s", "--project", "p", "--cron", cron];
        if flag != "--cron" {
            args.extend_from_slice(&[flag, value.as_str()]);
        }
        let r = f.run(&args, &[], false);
        if r.code == 0 {
            for a in [
                &["schedule", "show", "s"][..],
                &["schedule", "show", "s", "--json"],
                &["schedule", "list", "--json"],
                &[
                    "export-sqlite",
                    sb.tmp.path().join("x.db").to_str().unwrap(),
                ],
            ] {
                no_panic(&format!("{a:?} after {flag} {value:?}"), &sb.run(a));
            }
            sb.run(&["schedule", "remove", "s"]).ok();
        }
    }

    f.done(200);
}

#[test]
fn fuzzed_setting_numbers_and_durations_never_panic_or_half_apply() {
    let sb = setup();
    let mut rng = Rng(0x5eed_2306_dead_beef);
    let mut f = Fuzz::new(&sb);
    let numbers = numbers(&mut rng);
    // Settings that are numbers or durations.
    for key in [
        "default-level",
        "auto-lock-minutes",
        "concurrency",
        "retry-delay",
        "storage-concurrency",
    ] {
        for value in numbers.iter().take(NUMBERS.len() + 2) {
            let r = f.run(&["settings", "set", key, value], &[], false);
            if r.code == 0 {
                no_panic("settings get", &sb.run(&["settings", "get", "--json"]));
                sb.run(&["settings", "unset", key]).ok();
            }
        }
    }

    f.done(100);
}

#[test]
fn fuzzed_backup_levels_and_daemon_grace_never_panic() {
    let sb = setup();
    let mut rng = Rng(0x5eed_2305_dead_beef);
    let mut f = Fuzz::new(&sb);
    let numbers = numbers(&mut rng);
    // A backup's --level (an accepted one starts the backup, which fails
    // to connect: that is recorded, so only exit 2 must change nothing).
    for value in numbers.iter().take(NUMBERS.len()) {
        f.run(&["backup", "p", "--level", value], &[], true);
    }
    // The daemon's grace period: what clap refuses (an accepted one would
    // start the daemon).
    for value in ["-1", "1e3", "", "18446744073709551616", "NaN", "５"] {
        let r = f.run(&["daemon", "--grace", value], &[], false);
        assert_eq!(r.code, 2, "--grace {value:?}: {}", r.stderr);
    }

    f.done(20);
}
