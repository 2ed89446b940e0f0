//! Backups follow pg_dump's sections (pre-data, data, post-data), so what
//! must come after the rows does: NOT VALID constraints that old rows break,
//! indexes, constraint triggers, rules, event triggers. A restore gives back
//! a database whose pg_dump equals the source's, line for line.

use crate::cli::Sb;
use crate::pg::{PgCluster, SUPERUSER_PASSWORD};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Objects that live in post-data, old rows a NOT VALID constraint would
/// reject, and text that looks like pg_dump's own entry headers in places a
/// naive splitter would trust (a function body, a quoted identifier, COPY rows).
pub const POST_DATA_APP: &str = r#"
CREATE SCHEMA app;
CREATE TABLE app.customers (id integer PRIMARY KEY, email text, status text);
INSERT INTO app.customers VALUES (1, 'a@example.com', 'active'), (2, NULL, 'legacy'), (3, 'C@Example.com', 'active');
-- Added later without locking the table: old rows break them.
ALTER TABLE app.customers ADD CONSTRAINT email_present CHECK (email IS NOT NULL) NOT VALID;
CREATE TABLE app.orders (id integer PRIMARY KEY, customer_id integer, total numeric(10,2));
INSERT INTO app.orders VALUES (10, 1, 9.99), (11, 99, 5.00), (12, 3, 120.00);
ALTER TABLE app.orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id)
    REFERENCES app.customers (id) NOT VALID;
CREATE DOMAIN app.positive AS numeric;
CREATE TABLE app.refunds (id integer PRIMARY KEY, amount app.positive);
INSERT INTO app.refunds VALUES (1, -3);
ALTER DOMAIN app.positive ADD CONSTRAINT positive_check CHECK (VALUE > 0) NOT VALID;

CREATE INDEX customers_email_lower ON app.customers (lower(email));
CREATE UNIQUE INDEX orders_big ON app.orders (customer_id) WHERE total > 100;

CREATE TABLE app.audit (at timestamptz DEFAULT now(), what text);
CREATE FUNCTION app.audit_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
--
-- Name: fake_index; Type: INDEX; Schema: app; Owner: postgres
--
  INSERT INTO app.audit (what) VALUES ('order ' || NEW.id);
  RETURN NEW;
END $$;
CREATE CONSTRAINT TRIGGER orders_audit AFTER INSERT ON app.orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION app.audit_order();

CREATE VIEW app.active_customers AS SELECT id, email FROM app.customers WHERE status = 'active';
CREATE RULE active_insert AS ON INSERT TO app.active_customers
    DO INSTEAD INSERT INTO app.customers (id, email, status) VALUES (NEW.id, NEW.email, 'active');

CREATE FUNCTION app.no_drops() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN RAISE NOTICE 'dropped something'; END $$;
CREATE EVENT TRIGGER app_no_drops ON sql_drop EXECUTE FUNCTION app.no_drops();

CREATE TABLE app."odd
--
-- Name: fake_table; Type: INDEX; Schema: app; Owner: postgres
--
name" (line text);
INSERT INTO app."odd
--
-- Name: fake_table; Type: INDEX; Schema: app; Owner: postgres
--
name" VALUES ('--'), ('-- Name: fake_row; Type: INDEX; Schema: app; Owner: postgres'), ('--');

CREATE MATERIALIZED VIEW app.order_totals AS
    SELECT customer_id, sum(total) AS total FROM app.orders GROUP BY customer_id;
CREATE UNIQUE INDEX order_totals_customer ON app.order_totals (customer_id);
CREATE SEQUENCE app.invoice_no START 1000;
SELECT nextval('app.invoice_no'), nextval('app.invoice_no');
CREATE ROLE app_clerk;
GRANT USAGE ON SCHEMA app TO app_clerk;
GRANT SELECT ON app.orders TO app_clerk;
COMMENT ON TABLE app.orders IS 'orders, with a comment';
"#;

/// The backup folder of a `backup --json` record.
pub fn dir_of(v: &serde_json::Value) -> PathBuf {
    PathBuf::from(v["path"].as_str().unwrap())
}

/// A part of a set, decompressed.
pub fn part_text(dir: &Path, file: &str) -> String {
    let out = Command::new("zstd")
        .args(["-dc", file])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "zstd -dc {file}");
    String::from_utf8(out.stdout).unwrap()
}

/// Asserts two dumps are equal, showing the first lines that differ.
#[track_caller]
pub fn assert_same_dump(a: &str, b: &str) {
    if a == b {
        return;
    }
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let first = la
        .iter()
        .zip(&lb)
        .position(|(x, y)| x != y)
        .unwrap_or(la.len().min(lb.len()));
    let from = first.saturating_sub(3);
    panic!(
        "the dumps differ from line {} ({} vs {} lines):\n--- source\n{}\n--- restored\n{}",
        first + 1,
        la.len(),
        lb.len(),
        la[from..(first + 8).min(la.len())].join("\n"),
        lb[from..(first + 8).min(lb.len())].join("\n")
    );
}

#[test]
fn post_data_objects_and_not_valid_constraints_round_trip() {
    let src = PgCluster::start();
    let dst = PgCluster::start();
    src.psql("postgres", POST_DATA_APP);
    let sb = Sb::new();
    sb.add_project("Shop", &src.url("postgres"));
    let b = sb.backup("Shop", &["--profile", "postgres"]);
    let dir = dir_of(&b);
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    for f in [
        "roles.sql.zst",
        "pre-data.sql.zst",
        "data.sql.zst",
        "post-data.sql.zst",
        "manifest.json",
        "SHA256SUMS",
    ] {
        assert!(files.contains(&f.to_string()), "{f} missing: {files:?}");
    }
    let pre = part_text(&dir, "pre-data.sql.zst");
    let data = part_text(&dir, "data.sql.zst");
    let post = part_text(&dir, "post-data.sql.zst");
    assert!(pre.contains("CREATE TABLE \"app\".\"customers\""));
    assert!(pre.contains("fake_index"), "the function body stays whole");
    for (part, text) in [("pre-data", &pre), ("data", &data)] {
        assert!(!text.contains("CREATE INDEX"), "{part} has an index");
        assert!(
            !text.contains("NOT VALID"),
            "{part} has a NOT VALID constraint"
        );
        assert!(!text.contains("CREATE TRIGGER") && !text.contains("CREATE CONSTRAINT TRIGGER"));
    }
    assert!(data.contains("COPY \"app\".\"customers\""));
    assert!(!data.contains("CREATE TABLE"));
    for needle in [
        "CREATE INDEX \"customers_email_lower\"",
        "ADD CONSTRAINT \"email_present\" CHECK ((\"email\" IS NOT NULL)) NOT VALID",
        "NOT VALID",
        "CREATE CONSTRAINT TRIGGER \"orders_audit\"",
        "CREATE RULE \"active_insert\"",
        "CREATE EVENT TRIGGER \"app_no_drops\"",
        "REFRESH MATERIALIZED VIEW \"app\".\"order_totals\"",
        "GRANT SELECT ON TABLE \"app\".\"orders\" TO \"app_clerk\"",
    ] {
        assert!(post.contains(needle), "post-data lacks {needle}");
    }
    assert!(!post.contains("CREATE TABLE") && !post.contains("COPY "));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], 2);
    let parts: Vec<&str> = manifest["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["part"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["roles", "pre-data", "data", "post-data"]);
    let details: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("details.json")).unwrap()).unwrap();
    let odd = details["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"].as_str().unwrap().starts_with("odd"))
        .unwrap();
    assert_eq!(odd["rows"], 3);

    let r = sb
        .run(&[
            "restore",
            b["id"].as_str().unwrap(),
            "--to-url",
            &dst.url("postgres"),
        ])
        .ok();
    assert!(
        r.stdout.contains("pre-data + data + post-data"),
        "{}",
        r.stdout
    );
    assert_same_dump(&src.dump_text("postgres"), &dst.dump_text("postgres"));
    // What came back works as before: the old row still breaks the check,
    // a new one is checked.
    let bad = dst.try_psql(
        "postgres",
        "INSERT INTO app.customers VALUES (4, NULL, 'x')",
    );
    assert!(!bad.status.success());
    assert_eq!(
        dst.psql(
            "postgres",
            "SELECT count(*) FROM app.customers WHERE email IS NULL"
        ),
        "1"
    );
}

#[test]
fn the_parts_restore_by_hand_in_section_order() {
    let src = PgCluster::start();
    let dst = PgCluster::start();
    src.psql("postgres", POST_DATA_APP);
    let sb = Sb::new();
    sb.add_project("Shop", &src.url("postgres"));
    let b = sb.backup("Shop", &["--profile", "postgres"]);
    let dir = dir_of(&b);
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(check.status.success());
    // The README's command, word for word.
    let out = Command::new("bash")
        .args([
            "-o",
            "pipefail",
            "-c",
            "( zstd -dc roles.sql.zst; zstd -dc pre-data.sql.zst; zstd -dc data.sql.zst; zstd -dc post-data.sql.zst ) \
             | psql -X -v ON_ERROR_STOP=1 --single-transaction \"$TARGET\"",
        ])
        .current_dir(&dir)
        .env("PATH", format!("{}:{}", src.bin.display(), std::env::var("PATH").unwrap()))
        .env("PGPASSWORD", SUPERUSER_PASSWORD)
        .env("TARGET", format!("postgresql://postgres@127.0.0.1:{}/postgres", dst.port))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same_dump(&src.dump_text("postgres"), &dst.dump_text("postgres"));
}

#[test]
fn schema_and_data_kinds_hold_their_sections() {
    let src = PgCluster::start();
    src.psql("postgres", POST_DATA_APP);
    let sb = Sb::new();
    sb.add_project("Shop", &src.url("postgres"));
    let schema = sb.backup("Shop", &["--kind", "schema", "--profile", "postgres"]);
    let data = sb.backup("Shop", &["--kind", "data", "--profile", "postgres"]);
    let sd = dir_of(&schema);
    assert!(sd.join("pre-data.sql.zst").is_file() && sd.join("post-data.sql.zst").is_file());
    assert!(!sd.join("data.sql.zst").exists() && !sd.join("roles.sql.zst").exists());
    assert!(part_text(&sd, "post-data.sql.zst").contains("NOT VALID"));
    let dd = dir_of(&data);
    assert!(dd.join("data.sql.zst").is_file());
    assert!(!dd.join("pre-data.sql.zst").exists());
    let text = part_text(&dd, "data.sql.zst");
    assert!(text.contains("COPY \"app\".\"orders\""));
    assert!(!text.contains("CREATE "), "a data backup holds no schema");
    assert!(
        text.contains("REFRESH MATERIALIZED VIEW"),
        "matviews come back populated"
    );

    // Schema, then data, into another database: the same database again.
    src.create_db("again");
    sb.run(&[
        "restore",
        schema["id"].as_str().unwrap(),
        "--to-url",
        &src.url("again"),
    ])
    .ok();
    sb.run(&[
        "restore",
        data["id"].as_str().unwrap(),
        "--to-url",
        &src.url("again"),
        "--yes",
    ])
    .ok();
    assert_same_dump(&src.dump_text("postgres"), &src.dump_text("again"));
}

/// Writes a backup set the way supabackup did before the section split
/// (manifest format 1: roles, one schema part, data), from `db`.
pub fn legacy_set(pg: &PgCluster, db: &str, root: &Path) -> PathBuf {
    let id = "7f0c2a7e-4a57-4c31-9b0e-5f6a1d2c3b4a";
    let project = "0b8f3d5c-9e2a-4f1b-8c7d-6a5e4f3d2c1b";
    let dir = root.join("legacy").join("20250101T000000Z-full-7f0c2a7e");
    std::fs::create_dir_all(&dir).unwrap();
    let conn = format!("postgresql://postgres@127.0.0.1:{}/{db}", pg.port);
    let mut parts = Vec::new();
    for (part, cmd) in [
        // The cluster's own superuser exists on every target: not in the set
        // (supabackup's roles filter guarded it; this stands in for that).
        (
            "roles",
            format!(
                "pg_dumpall --roles-only --no-comments --dbname='{conn}' \
                 | sed -E '/^(CREATE|ALTER) ROLE \"?postgres\"?[ ;]/d'"
            ),
        ),
        (
            "schema",
            format!("pg_dump --quote-all-identifiers --schema-only '{conn}'"),
        ),
        (
            "data",
            format!("pg_dump --quote-all-identifiers --data-only '{conn}'"),
        ),
    ] {
        let file = format!("{part}.sql.zst");
        let sh = |script: String| {
            let out = Command::new("bash")
                .args(["-o", "pipefail", "-c", &script])
                .current_dir(&dir)
                .env(
                    "PATH",
                    format!("{}:{}", pg.bin.display(), std::env::var("PATH").unwrap()),
                )
                .env("PGPASSWORD", SUPERUSER_PASSWORD)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        sh(format!("{cmd} | zstd -q -o {file}"));
        let raw_bytes: u64 = sh(format!("zstd -dc {file} | wc -c")).parse().unwrap();
        let bytes = std::fs::read(dir.join(&file)).unwrap();
        let sha = sha256_hex(&bytes);
        parts.push(serde_json::json!({
            "part": part, "file": file, "bytes": bytes.len(), "raw_bytes": raw_bytes, "sha256": sha
        }));
    }
    let rows: Vec<serde_json::Value> = pg
        .psql(
            db,
            "SELECT n.nspname || '|' || c.relname || '|' || \
             (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
        )
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            serde_json::json!({"schema": f[0], "table": f[1], "rows": f[2].parse::<u64>().unwrap()})
        })
        .collect();
    let manifest = serde_json::json!({
        "format": 1,
        "tool": "supabackup 0.1.0",
        "id": id,
        "project_id": project,
        "project_name": "Legacy",
        "environment": "production",
        "kind": "full",
        "profile": "postgres",
        "compression": {"codec": "zstd", "level": 3},
        "source": format!("postgresql://postgres:****@127.0.0.1:{}/{db}", pg.port),
        "server_version": "15.0",
        "pg_dump_version": "15.0",
        "snapshot": null,
        "started_at": "2025-01-01T00:00:00Z",
        "finished_at": "2025-01-01T00:00:05Z",
        "parts": parts,
        "tables": rows,
        "roles": [],
        "schemas": ["app", "public"],
    });
    let json = serde_json::to_vec_pretty(&manifest).unwrap();
    std::fs::write(dir.join("manifest.json"), &json).unwrap();
    let mut sums = String::new();
    for p in &parts {
        sums.push_str(&format!(
            "{}  {}\n",
            p["sha256"].as_str().unwrap(),
            p["file"].as_str().unwrap()
        ));
    }
    sums.push_str(&format!("{}  manifest.json\n", sha256_hex(&json)));
    std::fs::write(dir.join("SHA256SUMS"), sums).unwrap();
    dir
}

/// SHA-256 of bytes, through `sha256sum` (the standard tool).
fn sha256_hex(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn sets_written_before_the_split_still_verify_restore_and_rebuild() {
    let src = PgCluster::start();
    let dst = PgCluster::start();
    // No NOT VALID constraint here: the old layout could never restore one.
    src.psql(
        "postgres",
        "CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, v text); \
         INSERT INTO app.t SELECT g, md5(g::text) FROM generate_series(1, 1000) g; \
         CREATE INDEX t_v ON app.t (v);",
    );
    let sb = Sb::new();
    let root = sb.tmp.path().join("backups");
    let dir = legacy_set(&src, "postgres", &root);
    sb.run(&["settings", "set", "backup-root", root.to_str().unwrap()])
        .ok();
    sb.run(&["verify", dir.to_str().unwrap()]).ok();
    let rebuilt = sb.run(&["catalog", "rebuild", "--json"]).ok().json();
    assert_eq!(rebuilt["restored"], 1, "{rebuilt}");
    let listed = sb.backups();
    assert_eq!(listed.len(), 1);
    let id = listed[0]["id"].as_str().unwrap().to_string();
    let r = sb
        .run(&["restore", &id, "--to-url", &dst.url("postgres")])
        .ok();
    assert!(r.stdout.contains("roles + schema + data"), "{}", r.stdout);
    assert_same_dump(&src.dump_text("postgres"), &dst.dump_text("postgres"));
    sb.run(&["verify", &id]).ok();
}
