//! `destination test`: the whole round trip a backup copy makes, on a small
//! object under `.supabackup-test/`, each failure worded for the step it
//! failed at.

use super::{Remote, RemoteError};
use std::time::Instant;

/// Where test objects go (a run that is cut may leave one; deleting this
/// folder is always safe).
pub const TEST_DIR: &str = ".supabackup-test";

/// Checks, writes, reads back, compares, deletes; says what it did.
pub(super) async fn run(remote: &Remote) -> Result<String, RemoteError> {
    let started = Instant::now();
    remote.reachable().await?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let key = format!("{TEST_DIR}/{id}");
    let body = test_body(&id);
    remote.put_bytes(&key, body.clone()).await?;
    let back = match remote.get_bytes(&key).await {
        Ok(back) => back,
        Err(e) => {
            let _ = remote.delete(&key).await;
            return Err(e);
        }
    };
    if back != body {
        let _ = remote.delete(&key).await;
        return Err(RemoteError::Other(format!(
            "{} gave back different bytes than were written to {key} ({} bytes instead of {}): the storage is not reliable, do not use it for backups",
            remote.describe(),
            back.len(),
            body.len()
        )));
    }
    remote.delete(&key).await?;
    if remote.exists(&key).await? {
        return Err(RemoteError::Other(format!(
            "{} still shows {key} after deleting it: retention would not free space there; check the bucket's versioning or object lock",
            remote.describe()
        )));
    }
    Ok(format!(
        "{}: wrote, read back (identical) and deleted a {}-byte test object in {} ms",
        remote.describe(),
        body.len(),
        started.elapsed().as_millis()
    ))
}

/// A recognisable text plus bytes of every value (a transfer that mangles
/// binary shows).
fn test_body(id: &str) -> Vec<u8> {
    let mut body = format!(
        "supabackup destination test {id} at {}\n",
        chrono::Utc::now().to_rfc3339()
    )
    .into_bytes();
    body.extend(0..=255u8);
    body
}
