//! Local files read and written on blocking threads, hashed (SHA-256) on the
//! way, handed to and from async code through bounded channels: the bytes in
//! flight stay a few MiB whatever the file size.

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The size of the chunks a [`FileSource`] reads (1 MiB).
pub(super) const CHUNK: usize = 1 << 20;
/// Chunks read ahead by a [`FileSource`].
const READ_AHEAD: usize = 4;
/// Chunks queued for a [`FileSink`] (network chunks are small).
const WRITE_QUEUE: usize = 16;

/// A file read in [`CHUNK`]s on a blocking thread, hashed as read.
pub(super) struct FileSource {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    task: JoinHandle<Option<String>>,
}

impl FileSource {
    /// Starts reading `path`; an open error arrives with the first chunk.
    pub(super) fn open(path: &Path) -> Self {
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        let path = path.to_path_buf();
        let task = tokio::task::spawn_blocking(move || read_loop(&path, &tx));
        Self { rx, task }
    }

    /// The next chunk (never empty), `None` at the end.
    pub(super) async fn next(&mut self) -> io::Result<Option<Bytes>> {
        self.rx.recv().await.transpose()
    }

    /// The SHA-256 (hex) of the whole file, once [`Self::next`] gave `None`.
    pub(super) async fn finish(self) -> io::Result<String> {
        drop(self.rx);
        match self.task.await {
            Ok(Some(hash)) => Ok(hash),
            Ok(None) => Err(io::Error::other("the file was not read to its end")),
            Err(e) => Err(io::Error::other(format!("the file reader stopped: {e}"))),
        }
    }
}

/// Sends `path`'s chunks; returns the hash at the end, `None` if it stopped
/// early (an error, sent on; or the receiver went away).
fn read_loop(path: &Path, tx: &mpsc::Sender<io::Result<Bytes>>) -> Option<String> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            let _ = tx.blocking_send(Err(e));
            return None;
        }
    };
    let mut hasher = Sha256::new();
    loop {
        let mut buf = BytesMut::zeroed(CHUNK);
        let n = match read_full(&mut file, &mut buf) {
            Ok(n) => n,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return None;
            }
        };
        if n == 0 {
            return Some(hex::encode(hasher.finalize()));
        }
        buf.truncate(n);
        hasher.update(&buf);
        if tx.blocking_send(Ok(buf.freeze())).is_err() {
            return None;
        }
        if n < CHUNK {
            return Some(hex::encode(hasher.finalize()));
        }
    }
}

/// Reads until `buf` is full or the end; returns how many bytes.
fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// A new file (owner-only, must not exist) written on a blocking thread,
/// hashed as written, synced at the end.
pub(super) struct FileSink {
    tx: Option<mpsc::Sender<Bytes>>,
    task: Option<JoinHandle<io::Result<(u64, String)>>>,
    path: PathBuf,
}

impl FileSink {
    /// Creates `path` (0600 on Unix; an error if it exists).
    pub(super) async fn create(path: &Path) -> io::Result<Self> {
        let p = path.to_path_buf();
        let file = tokio::task::spawn_blocking(move || create_private(&p))
            .await
            .map_err(|e| io::Error::other(format!("the file writer stopped: {e}")))??;
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let task = tokio::task::spawn_blocking(move || write_loop(file, rx));
        Ok(Self {
            tx: Some(tx),
            task: Some(task),
            path: path.to_path_buf(),
        })
    }

    /// Queues a chunk; an error if the writer stopped (its own error).
    pub(super) async fn write(&mut self, chunk: Bytes) -> io::Result<()> {
        if let Some(tx) = &self.tx
            && tx.send(chunk).await.is_ok()
        {
            return Ok(());
        }
        self.tx = None;
        match self.join().await {
            Err(e) => Err(e),
            Ok(_) => Err(io::Error::other("the file writer stopped")),
        }
    }

    /// Waits for every chunk to be written and synced; (size, SHA-256 hex).
    pub(super) async fn finish(mut self) -> io::Result<(u64, String)> {
        self.tx = None;
        self.join().await
    }

    /// Stops and removes the file (after a failure elsewhere).
    pub(super) async fn discard(mut self) {
        self.tx = None;
        let _ = self.join().await;
        let _ = tokio::fs::remove_file(&self.path).await;
    }

    async fn join(&mut self) -> io::Result<(u64, String)> {
        let Some(task) = self.task.take() else {
            return Err(io::Error::other("the file writer already stopped"));
        };
        task.await
            .map_err(|e| io::Error::other(format!("the file writer stopped: {e}")))?
    }
}

/// Writes what arrives until the channel closes, then syncs.
fn write_loop(mut file: std::fs::File, mut rx: mpsc::Receiver<Bytes>) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = rx.blocking_recv() {
        file.write_all(&chunk)?;
        hasher.update(&chunk);
        size += chunk.len() as u64;
    }
    file.sync_all()?;
    Ok((size, hex::encode(hasher.finalize())))
}

/// Removes a file when dropped unless disarmed: a copy whose future is
/// dropped (cancelled) leaves no half file behind.
pub(super) struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    /// Guards `path`.
    pub(super) fn new(path: &Path) -> Self {
        Self(Some(path.to_path_buf()))
    }

    /// Keeps the file.
    pub(super) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Creates a new file readable by its owner only.
pub(super) fn create_private(path: &Path) -> io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_goes_through_source_and_sink_with_the_same_hash() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        let data: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&from, &data).unwrap();
        let to = dir.path().join("to");
        let mut source = FileSource::open(&from);
        let mut sink = FileSink::create(&to).await.unwrap();
        let mut chunks = 0;
        while let Some(chunk) = source.next().await.unwrap() {
            assert!(chunk.len() <= CHUNK);
            chunks += 1;
            sink.write(chunk).await.unwrap();
        }
        assert_eq!(chunks, 4);
        let sent = source.finish().await.unwrap();
        let (size, got) = sink.finish().await.unwrap();
        assert_eq!(size, data.len() as u64);
        assert_eq!(sent, got);
        assert_eq!(got, hex::encode(Sha256::digest(&data)));
        assert_eq!(std::fs::read(&to).unwrap(), data);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&to).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(FileSink::create(&to).await.is_err(), "must not overwrite");
    }

    #[tokio::test]
    async fn a_missing_file_is_an_error_not_an_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut source = FileSource::open(&dir.path().join("nope"));
        let e = source.next().await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(source.finish().await.is_err());
    }

    #[tokio::test]
    async fn an_empty_file_has_the_empty_hash() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("empty");
        std::fs::write(&from, b"").unwrap();
        let mut source = FileSource::open(&from);
        assert!(source.next().await.unwrap().is_none());
        assert_eq!(
            source.finish().await.unwrap(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
