//! Record encoding: postcard (a maintained serde format), decoded fallibly
//! because `redb::Value::from_bytes` cannot fail.

use crate::store::StoreError;
use redb::ReadableTable;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes a record.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // postcard only fails on types serde cannot describe (maps with
    // non-string keys and the like); our records are plain structs.
    postcard::to_stdvec(value).unwrap_or_default()
}

/// Decodes a record, naming the table and key when it is damaged.
pub fn decode<T: DeserializeOwned>(
    table: &'static str,
    key: impl std::fmt::Display,
    bytes: &[u8],
) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt {
        table,
        key: key.to_string(),
        detail: e.to_string(),
    })
}

/// One record of a u128-keyed table.
pub fn get<T: DeserializeOwned>(
    table: &impl ReadableTable<u128, &'static [u8]>,
    name: &'static str,
    key: u128,
) -> Result<Option<T>, StoreError> {
    match table.get(key)? {
        Some(v) => decode(name, uuid::Uuid::from_u128(key), v.value()).map(Some),
        None => Ok(None),
    }
}

/// Every record of a u128-keyed table.
pub fn all<T: DeserializeOwned>(
    table: &impl ReadableTable<u128, &'static [u8]>,
    name: &'static str,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        out.push(decode(name, uuid::Uuid::from_u128(k.value()), v.value())?);
    }
    Ok(out)
}
