//! What Storage keeps in the project's database: the bucket settings in
//! `storage.buckets` (S3 does not carry them) and the object rows in
//! `storage.objects` (the drill counts them). Best effort: a database
//! without the `storage` schema has none of it.

use super::client::BucketInfo;
use crate::domain::ConnInfo;
use crate::engine::test_connection::CONNECT_TIMEOUT;
use crate::pgtools::{connect, db_message};
use serde_json::Value;
use std::collections::BTreeMap;

/// The buckets' settings from `storage.buckets`; `Ok(None)` when the
/// database has no such table. The error is in words.
pub(crate) async fn bucket_settings(info: &ConnInfo) -> Result<Option<Vec<BucketInfo>>, String> {
    let client = connect(info, CONNECT_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let q = |e: tokio_postgres::Error| db_message(e);
    if !has_table(&client, "storage.buckets").await? {
        return Ok(None);
    }
    let rows = client
        .query(
            "SELECT to_jsonb(b)::text FROM storage.buckets b ORDER BY 1",
            &[],
        )
        .await
        .map_err(q)?;
    let mut out = Vec::new();
    for r in rows {
        let text: String = r.get(0);
        let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let Some(id) = v["id"].as_str() else { continue };
        out.push(BucketInfo {
            id: id.to_string(),
            name: v["name"].as_str().unwrap_or(id).to_string(),
            public: Some(v["public"].as_bool().unwrap_or(false)),
            file_size_limit: v["file_size_limit"].as_u64(),
            allowed_mime_types: v["allowed_mime_types"].as_array().map(|a| {
                a.iter()
                    .filter_map(|m| m.as_str().map(str::to_string))
                    .collect()
            }),
        });
    }
    Ok(Some(out))
}

/// Sets the buckets' settings in `storage.buckets` (after an S3 restore
/// created them, S3 having no way to). Returns the buckets changed.
pub(crate) async fn apply_bucket_settings(
    info: &ConnInfo,
    buckets: &[BucketInfo],
) -> Result<Vec<String>, String> {
    let client = connect(info, CONNECT_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let q = |e: tokio_postgres::Error| db_message(e);
    let has: bool = client
        .query_one("SELECT to_regclass('storage.buckets') IS NOT NULL", &[])
        .await
        .map_err(q)?
        .get(0);
    if !has {
        return Err("the target database has no storage.buckets table".into());
    }
    let mut changed = Vec::new();
    for b in buckets {
        let limit = b.file_size_limit.map(|l| l as i64);
        let n = client
            .execute(
                "UPDATE storage.buckets SET public = coalesce($2, public), \
                 file_size_limit = $3, allowed_mime_types = $4 WHERE id = $1",
                &[&b.id, &b.public, &limit, &b.allowed_mime_types],
            )
            .await
            .map_err(q)?;
        if n > 0 {
            changed.push(b.id.clone());
        }
    }
    Ok(changed)
}

/// Objects and bytes per bucket in `storage.objects`; `Ok(None)` when
/// there is no such table.
pub(crate) async fn bucket_counts(
    client: &tokio_postgres::Client,
) -> Result<Option<BTreeMap<String, (u64, u64)>>, String> {
    let q = |e: tokio_postgres::Error| db_message(e);
    if !has_table(client, "storage.objects").await? {
        return Ok(None);
    }
    let rows = client
        .query(
            "SELECT bucket_id::text, count(*)::bigint, coalesce(sum(CASE WHEN metadata->>'size' \
             ~ '^[0-9]+$' THEN (metadata->>'size')::bigint ELSE 0 END), 0)::bigint \
             FROM storage.objects GROUP BY 1",
            &[],
        )
        .await
        .map_err(q)?;
    Ok(Some(
        rows.iter()
            .map(|r| {
                let (b, n, bytes): (String, i64, i64) = (r.get(0), r.get(1), r.get(2));
                (b, (n.max(0) as u64, bytes.max(0) as u64))
            })
            .collect(),
    ))
}

/// Whether the table exists (a plain PostgreSQL database has no Storage
/// schema).
async fn has_table(client: &tokio_postgres::Client, table: &str) -> Result<bool, String> {
    Ok(client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await
        .map_err(db_message)?
        .get(0))
}
