//! Uploading a file to S3: one put up to a part's size, a multipart upload
//! above, at most [`PARTS_IN_FLIGHT`] parts in memory and on the wire,
//! aborted on failure or when the upload's future is dropped.

use super::S3;
use crate::engine::remote::ProgressFn;
use crate::engine::remote::error::{Action, RemoteError};
use crate::engine::remote::pipe::FileSource;
use bytes::Bytes;
use object_store::path::Path as StorePath;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use std::path::Path;

/// The size of a multipart upload's parts (larger for files over about
/// 70 GiB: S3 allows 10,000 parts), and the largest single put.
const PART_SIZE: usize = 8 << 20;
/// Parts a file is cut into at most (S3's limit is 10,000).
const MAX_PARTS: u64 = 9_000;
/// Parts uploading at once (so at most about 5 parts in memory).
const PARTS_IN_FLIGHT: usize = 4;

impl S3 {
    /// Uploads `local` to `key`; returns the SHA-256 (hex) of what was sent.
    pub(in crate::engine::remote) async fn put_file(
        &self,
        key: &str,
        local: &Path,
        progress: ProgressFn<'_>,
    ) -> Result<String, RemoteError> {
        let local_err = |e| RemoteError::io("read the file to upload", local, e);
        let len = tokio::fs::metadata(local).await.map_err(local_err)?.len();
        let mut source = FileSource::open(local);
        // Whatever fits in one part goes in one put.
        let mut first = Vec::new();
        let mut size = 0;
        let mut ended = false;
        while size < PART_SIZE {
            match source.next().await.map_err(local_err)? {
                Some(chunk) => {
                    size += chunk.len();
                    first.push(chunk);
                }
                None => {
                    ended = true;
                    break;
                }
            }
        }
        let path = StorePath::from(key);
        if ended {
            let hash = source.finish().await.map_err(local_err)?;
            let payload: PutPayload = first.into_iter().collect();
            self.store
                .put(&path, payload)
                .await
                .map_err(|e| self.err(e, Action::Write, key))?;
            progress(size as u64);
            return Ok(hash);
        }
        let upload = self
            .store
            .put_multipart(&path)
            .await
            .map_err(|e| self.err(e, Action::Write, key))?;
        let part_size = part_size_for(len);
        let mut parts = Multipart(Some(WriteMultipart::new_with_chunk_size(upload, part_size)));
        let sent = self
            .send_parts(&mut parts, first, &mut source, (key, local), progress)
            .await;
        let hash = match sent {
            Ok(()) => source.finish().await.map_err(local_err),
            Err(e) => Err(e),
        };
        match hash {
            Ok(hash) => {
                parts
                    .finish()
                    .await
                    .map_err(|e| self.err(e, Action::Write, key))?;
                Ok(hash)
            }
            Err(e) => {
                parts.abort().await;
                Err(e)
            }
        }
    }

    /// Feeds the parts, at most [`PARTS_IN_FLIGHT`] uploading at once.
    async fn send_parts(
        &self,
        parts: &mut Multipart,
        first: Vec<Bytes>,
        source: &mut FileSource,
        (key, local): (&str, &Path),
        progress: ProgressFn<'_>,
    ) -> Result<(), RemoteError> {
        let mut done = 0u64;
        for chunk in first {
            done += chunk.len() as u64;
            parts.put(chunk);
        }
        progress(done);
        loop {
            let chunk = source
                .next()
                .await
                .map_err(|e| RemoteError::io("read the file to upload", local, e))?;
            let Some(chunk) = chunk else {
                return Ok(());
            };
            parts
                .wait_for_capacity(PARTS_IN_FLIGHT)
                .await
                .map_err(|e| self.err(e, Action::Write, key))?;
            done += chunk.len() as u64;
            parts.put(chunk);
            progress(done);
        }
    }
}

/// A multipart upload that is aborted if dropped unfinished (a cancelled
/// upload), so its parts do not stay on the server.
struct Multipart(Option<WriteMultipart>);

impl Multipart {
    fn put(&mut self, chunk: Bytes) {
        if let Some(w) = &mut self.0 {
            w.put(chunk);
        }
    }

    async fn wait_for_capacity(&mut self, n: usize) -> object_store::Result<()> {
        match &mut self.0 {
            Some(w) => w.wait_for_capacity(n).await,
            None => Ok(()),
        }
    }

    async fn finish(mut self) -> object_store::Result<()> {
        match self.0.take() {
            Some(w) => w.finish().await.map(|_| ()),
            None => Ok(()),
        }
    }

    /// Best effort: the server may be gone too.
    async fn abort(mut self) {
        if let Some(w) = self.0.take() {
            let _ = w.abort().await;
        }
    }
}

impl Drop for Multipart {
    fn drop(&mut self) {
        if let Some(w) = self.0.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = w.abort().await;
            });
        }
    }
}

/// [`PART_SIZE`], or more (in whole MiB) for a file that would need more
/// than [`MAX_PARTS`] parts.
fn part_size_for(len: u64) -> usize {
    let needed = len.div_ceil(MAX_PARTS).next_multiple_of(1 << 20);
    usize::try_from(needed).map_or(PART_SIZE, |n| n.max(PART_SIZE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_grow_only_for_huge_files() {
        assert_eq!(part_size_for(0), PART_SIZE);
        assert_eq!(part_size_for(50 << 30), PART_SIZE);
        let huge = 200u64 << 30;
        let part = part_size_for(huge) as u64;
        assert!(part > PART_SIZE as u64 && part.is_multiple_of(1 << 20));
        assert!(huge.div_ceil(part) <= MAX_PARTS);
    }
}
