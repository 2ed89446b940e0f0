//! What the snapshot transaction asks before the dump: which schemas go in,
//! how big the data is, and the user's objects attached to platform tables
//! (which `supabase db dump` loses).

use crate::domain::{BackupKind, Part, Profile};
use crate::engine::profile::{excluded_schemas, schema_matches};
use crate::pgtools::{db_message, quote_ident, quote_literal};
use tokio_postgres::Client;

/// Facts gathered inside the snapshot, used to build the parts.
#[derive(Debug, Default)]
pub struct DumpPlan {
    /// Schemas in the schema part.
    pub schemas: Vec<String>,
    /// Schemas in the data part.
    pub data_schemas: Vec<String>,
    /// Schemas left out of the schema part.
    pub managed_schemas: Vec<String>,
    /// Bytes of table data to dump (estimate).
    pub estimate: u64,
    /// SQL appended to the post-data part.
    pub post_data_appendix: String,
    /// SQL appended to the data part.
    pub data_appendix: String,
}

/// Gathers the plan; `client` is inside the snapshot transaction.
/// `on_estimate` hears the size estimate as soon as it is known.
pub async fn plan(
    client: &Client,
    profile: Profile,
    kind: BackupKind,
    server_major: u32,
    on_estimate: impl FnOnce(u64),
) -> Result<DumpPlan, String> {
    let all: Vec<String> = client
        .query(
            "SELECT nspname::text FROM pg_catalog.pg_namespace \
             WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1",
            &[],
        )
        .await
        .map_err(db_message)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let schema_ex = excluded_schemas(profile, Part::Schema);
    let data_ex = excluded_schemas(profile, Part::Data);
    let mut plan = DumpPlan {
        schemas: all
            .iter()
            .filter(|s| !schema_matches(s, &schema_ex))
            .cloned()
            .collect(),
        data_schemas: all
            .iter()
            .filter(|s| !schema_matches(s, &data_ex))
            .cloned()
            .collect(),
        managed_schemas: all
            .iter()
            .filter(|s| schema_matches(s, &schema_ex))
            .cloned()
            .collect(),
        ..Default::default()
    };
    // relpages needs no lock (pg_table_size would wait behind any exclusive
    // lock); tables never vacuumed or analyzed report 0, so fall back to the
    // database's size.
    plan.estimate = client
        .query_one(
            "SELECT coalesce(sum(c.relpages::int8 * current_setting('block_size')::int8), 0)::int8, \
                    pg_catalog.pg_database_size(current_database())::int8 \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 't') AND n.nspname = ANY($1)",
            &[&plan.data_schemas],
        )
        .await
        .map_err(db_message)
        .map(|r| {
            let pages = r.get::<_, i64>(0).max(0) as u64;
            if pages > 0 { pages } else { r.get::<_, i64>(1).max(0) as u64 }
        })?;
    on_estimate(plan.estimate);
    // Expressions come out schema-qualified, as pg_dump writes them.
    client
        .batch_execute("SELECT pg_catalog.set_config('search_path', '', true)")
        .await
        .map_err(db_message)?;
    if profile == Profile::Supabase && !plan.managed_schemas.is_empty() && kind != BackupKind::Data
    {
        plan.post_data_appendix =
            platform_attachments(client, &plan.managed_schemas, server_major).await?;
    }
    // A full backup's post-data part refreshes materialized views itself
    // (pg_dump's MATERIALIZED VIEW DATA entries); a data-only one has none.
    if kind == BackupKind::Data {
        plan.data_appendix = matview_refreshes(client, &plan.data_schemas).await?;
    }
    Ok(plan)
}

/// Triggers (calling the user's functions), RLS policies and realtime
/// publication membership on tables in platform-managed schemas. Triggers
/// are replaced in place (`CREATE OR REPLACE`, PostgreSQL 14+), which needs
/// only the TRIGGER privilege the platform grants `postgres`, not ownership.
async fn platform_attachments(
    client: &Client,
    managed: &[String],
    server_major: u32,
) -> Result<String, String> {
    let mut sql = String::new();
    let triggers = client
        .query(
            "SELECT n.nspname::text, c.relname::text, t.tgname::text, \
                    pg_catalog.pg_get_triggerdef(t.oid, false), t.tgenabled::text \
             FROM pg_catalog.pg_trigger t \
             JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid \
             JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace \
             WHERE NOT t.tgisinternal AND n.nspname = ANY($1) AND NOT (pn.nspname = ANY($1)) \
             ORDER BY 1, 2, 3",
            &[&managed],
        )
        .await
        .map_err(db_message)?;
    for r in &triggers {
        let (schema, table, name, def, enabled): (String, String, String, String, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        let target = format!("{}.{}", quote_ident(&schema), quote_ident(&table));
        match def.strip_prefix("CREATE TRIGGER ") {
            Some(rest) if server_major >= 14 => {
                sql.push_str(&format!("CREATE OR REPLACE TRIGGER {rest};\n"));
            }
            _ => sql.push_str(&format!(
                "DROP TRIGGER IF EXISTS {} ON {target};\n{def};\n",
                quote_ident(&name)
            )),
        }
        if enabled == "D" {
            sql.push_str(&format!(
                "ALTER TABLE {target} DISABLE TRIGGER {};\n",
                quote_ident(&name)
            ));
        }
    }
    let policies = client
        .query(
            "SELECT n.nspname::text, c.relname::text, pol.polname::text, pol.polpermissive, \
                    pol.polcmd::text, \
                    CASE WHEN pol.polroles = '{0}' THEN ARRAY['PUBLIC'] \
                         ELSE ARRAY(SELECT pg_catalog.quote_ident(rolname) FROM pg_catalog.pg_roles \
                                    WHERE oid = ANY(pol.polroles) ORDER BY rolname) END, \
                    pg_catalog.pg_get_expr(pol.polqual, pol.polrelid), \
                    pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid), \
                    c.relrowsecurity \
             FROM pg_catalog.pg_policy pol \
             JOIN pg_catalog.pg_class c ON c.oid = pol.polrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = ANY($1) ORDER BY 1, 2, 3",
            &[&managed],
        )
        .await
        .map_err(db_message)?;
    let mut rls_tables = Vec::new();
    for r in &policies {
        let schema: String = r.get(0);
        let table: String = r.get(1);
        let name: String = r.get(2);
        let permissive: bool = r.get(3);
        let cmd = match r.get::<_, String>(4).as_str() {
            "r" => "SELECT",
            "a" => "INSERT",
            "w" => "UPDATE",
            "d" => "DELETE",
            _ => "ALL",
        };
        let roles: Vec<String> = r.get(5);
        let qual: Option<String> = r.get(6);
        let check: Option<String> = r.get(7);
        let rls: bool = r.get(8);
        let target = format!("{}.{}", quote_ident(&schema), quote_ident(&table));
        if rls && !rls_tables.contains(&target) {
            rls_tables.push(target.clone());
        }
        let mut stmt = format!(
            "CREATE POLICY {} ON {target} AS {} FOR {cmd} TO {}",
            quote_ident(&name),
            if permissive {
                "PERMISSIVE"
            } else {
                "RESTRICTIVE"
            },
            roles.join(", ")
        );
        if let Some(q) = qual {
            stmt.push_str(&format!(" USING ({q})"));
        }
        if let Some(c) = check {
            stmt.push_str(&format!(" WITH CHECK ({c})"));
        }
        sql.push_str(&format!(
            "DROP POLICY IF EXISTS {} ON {target};\n{stmt};\n",
            quote_ident(&name)
        ));
    }
    for t in &rls_tables {
        sql.push_str(&format!("ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;\n"));
    }
    let published = client
        .query(
            "SELECT schemaname::text, tablename::text FROM pg_catalog.pg_publication_tables \
             WHERE pubname = 'supabase_realtime' AND schemaname = ANY($1) ORDER BY 1, 2",
            &[&managed],
        )
        .await
        .map_err(db_message)?;
    for r in &published {
        let (schema, table): (String, String) = (r.get(0), r.get(1));
        sql.push_str(&format!(
            "DO $supabackup$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables \
             WHERE pubname = 'supabase_realtime' AND schemaname = {} AND tablename = {}) THEN \
             ALTER PUBLICATION \"supabase_realtime\" ADD TABLE ONLY {}.{}; END IF; END $supabackup$;\n",
            quote_literal(&schema),
            quote_literal(&table),
            quote_ident(&schema),
            quote_ident(&table)
        ));
    }
    if sql.is_empty() {
        return Ok(sql);
    }
    Ok(format!(
        "\n--\n-- supabackup: the user's triggers, policies and realtime tables on \
         platform-managed tables\n--\n\n{sql}"
    ))
}

/// `REFRESH MATERIALIZED VIEW` for every populated one, dependencies first.
async fn matview_refreshes(client: &Client, schemas: &[String]) -> Result<String, String> {
    let views = client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'm' AND c.relispopulated AND n.nspname = ANY($1) ORDER BY c.oid",
            &[&schemas],
        )
        .await
        .map_err(db_message)?;
    if views.is_empty() {
        return Ok(String::new());
    }
    let deps = client
        .query(
            "SELECT DISTINCT r.ev_class, d.refobjid FROM pg_catalog.pg_rewrite r \
             JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass \
                  AND d.objid = r.oid \
             JOIN pg_catalog.pg_class rc ON rc.oid = d.refobjid AND rc.relkind = 'm' \
             WHERE r.ev_class <> d.refobjid",
            &[],
        )
        .await
        .map_err(db_message)?;
    let nodes: Vec<(u32, String)> = views
        .iter()
        .map(|r| {
            let oid: u32 = r.get(0);
            let name = format!(
                "{}.{}",
                quote_ident(&r.get::<_, String>(1)),
                quote_ident(&r.get::<_, String>(2))
            );
            (oid, name)
        })
        .collect();
    let edges: Vec<(u32, u32)> = deps.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut done: Vec<u32> = Vec::new();
    let mut sql = String::from("\n-- supabackup: materialized views come back populated\n");
    while done.len() < nodes.len() {
        let before = done.len();
        for (oid, name) in &nodes {
            if done.contains(oid) {
                continue;
            }
            let ready = edges
                .iter()
                .filter(|(dep, _)| dep == oid)
                .all(|(_, on)| done.contains(on) || !nodes.iter().any(|(o, _)| o == on));
            if ready {
                sql.push_str(&format!("REFRESH MATERIALIZED VIEW {name};\n"));
                done.push(*oid);
            }
        }
        if done.len() == before {
            // A cycle cannot happen in PostgreSQL; refresh the rest in oid order.
            for (oid, name) in &nodes {
                if !done.contains(oid) {
                    sql.push_str(&format!("REFRESH MATERIALIZED VIEW {name};\n"));
                    done.push(*oid);
                }
            }
        }
    }
    Ok(sql)
}
