//! What each profile leaves out, following `supabase db dump`.

use crate::domain::{BackupKind, Part, Profile};

/// Schemas the Supabase platform creates and manages (the list
/// `supabase db dump` excludes). Patterns use pg_dump's `*`.
pub const SUPABASE_MANAGED_SCHEMAS: &[&str] = &[
    "information_schema",
    "pg_*",
    "_analytics",
    "_realtime",
    "_supavisor",
    "auth",
    "extensions",
    "pgbouncer",
    "realtime",
    "storage",
    "supabase_functions",
    "supabase_migrations",
    "cron",
    "dbdev",
    "graphql",
    "graphql_public",
    "net",
    "pgmq",
    "pgsodium",
    "pgsodium_masks",
    "pgtle",
    "repack",
    "tiger",
    "tiger_data",
    "timescaledb_*",
    "_timescaledb_*",
    "topology",
    "vault",
];

/// Managed schemas whose rows are the user's data: kept in the data part.
pub const SUPABASE_DATA_SCHEMAS: &[&str] = &["auth", "storage"];

/// Platform migration bookkeeping, never dumped.
pub const SUPABASE_EXCLUDED_TABLES: &[&str] = &[
    "auth.schema_migrations",
    "storage.migrations",
    "supabase_functions.migrations",
];

/// True for roles a Supabase project creates itself.
pub fn is_reserved_role(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "postgres",
        "anon",
        "authenticated",
        "authenticator",
        "dashboard_user",
        "pgbouncer",
        "service_role",
        "pgtle_admin",
        "pgsodium_keyholder",
        "pgsodium_keyiduser",
        "pgsodium_keymaker",
    ];
    EXACT.contains(&name) || name.starts_with("supabase_") || name.starts_with("pg_")
}

/// True when `schema` matches one of `patterns` (pg_dump-style `*`).
pub fn schema_matches(schema: &str, patterns: &[&str]) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => schema.starts_with(prefix),
        None => schema == *p,
    })
}

/// Schemas left out of a part, by profile: the supabase profile's schema
/// parts leave out every managed schema, its data part keeps `auth` and
/// `storage` rows.
pub fn excluded_schemas(profile: Profile, part: Part) -> Vec<&'static str> {
    match (profile, part) {
        (Profile::Postgres, _) | (_, Part::Roles) => Vec::new(),
        (Profile::Supabase, p) if p.is_schema() => SUPABASE_MANAGED_SCHEMAS.to_vec(),
        (Profile::Supabase, _) => SUPABASE_MANAGED_SCHEMAS
            .iter()
            .copied()
            .filter(|s| !SUPABASE_DATA_SCHEMAS.contains(s))
            .collect(),
    }
}

/// pg_dump arguments for the one run that writes a backup's pre-data, data
/// and post-data parts (connection and snapshot added by the caller). It
/// dumps what the data part needs; the schema parts' filter leaves out the
/// objects of the schemas whose rows alone are kept.
pub fn dump_args(profile: Profile, kind: BackupKind) -> Vec<String> {
    let mut args: Vec<String> = vec!["--quote-all-identifiers".into()];
    match kind {
        BackupKind::Full | BackupKind::Storage => {}
        BackupKind::Schema => args.push("--schema-only".into()),
        BackupKind::Data => args.push("--data-only".into()),
    }
    for s in excluded_schemas(profile, Part::Data) {
        args.push(format!("--exclude-schema={s}"));
    }
    if profile == Profile::Supabase {
        args.push("--no-subscriptions".into());
        for t in SUPABASE_EXCLUDED_TABLES {
            args.push(format!("--exclude-table={t}"));
        }
    }
    args
}

/// pg_dumpall arguments for the roles part.
pub fn roles_args(superuser: bool) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--quote-all-identifiers".into(),
        "--roles-only".into(),
        "--no-comments".into(),
    ];
    if !superuser {
        // Role passwords live in pg_authid, which only a superuser reads.
        args.push("--no-role-passwords".into());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supabase_data_keeps_auth_and_storage_rows_but_not_migrations() {
        let data = excluded_schemas(Profile::Supabase, Part::Data);
        assert!(!data.contains(&"auth") && !data.contains(&"storage"));
        assert!(data.contains(&"realtime") && data.contains(&"vault"));
        let schema = excluded_schemas(Profile::Supabase, Part::PreData);
        assert!(schema.contains(&"auth") && schema.contains(&"storage"));
        let args = dump_args(Profile::Supabase, BackupKind::Full);
        assert!(args.contains(&"--exclude-table=auth.schema_migrations".to_string()));
        assert!(args.contains(&"--exclude-schema=realtime".to_string()));
        assert!(!args.contains(&"--exclude-schema=auth".to_string()));
        assert!(!args.iter().any(|a| a.ends_with("-only")));
        assert!(dump_args(Profile::Postgres, BackupKind::Schema).contains(&"--schema-only".into()));
        assert!(excluded_schemas(Profile::Postgres, Part::PostData).is_empty());
    }

    #[test]
    fn reserved_roles_and_schema_patterns() {
        assert!(is_reserved_role("supabase_storage_admin"));
        assert!(is_reserved_role("authenticated"));
        assert!(!is_reserved_role("app_user"));
        assert!(schema_matches(
            "_timescaledb_catalog",
            SUPABASE_MANAGED_SCHEMAS
        ));
        assert!(!schema_matches("public", SUPABASE_MANAGED_SCHEMAS));
        assert!(roles_args(false).contains(&"--no-role-passwords".to_string()));
        assert!(!roles_args(true).contains(&"--no-role-passwords".to_string()));
    }
}
