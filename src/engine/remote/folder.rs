//! The folder backend: a mounted NAS share, a second disk, a USB stick. A
//! key is a relative path; a file is written as `<name>.partial-<random>`,
//! synced, renamed, and its folder synced, so a copy that fails or is cut
//! never looks complete. Files 0600, folders made here 0700 (on Unix).

use super::error::{Action, RemoteError, from_fs};
use super::pipe::{FileSink, FileSource, RemoveOnDrop, create_private};
use super::{MAX_SMALL_OBJECT, ObjectInfo, ProgressFn};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use tree::{Side, copy, dirs_in, sync_dir, sync_parent, temp_path, walk};

mod tree;

/// Marks a file being written (never a valid key; never listed).
pub(super) const TEMP_MARK: &str = ".partial-";

/// A destination folder.
#[derive(Clone)]
pub(super) struct Folder {
    root: PathBuf,
    target: String,
}

impl Folder {
    /// The folder at `root` (not checked yet).
    pub(super) fn new(root: PathBuf) -> Self {
        let target = format!("folder {}", root.display());
        Self { root, target }
    }

    /// `folder /path`.
    pub(super) fn describe(&self) -> String {
        self.target.clone()
    }

    fn path_of(&self, key: &str) -> PathBuf {
        key.split('/').fold(self.root.clone(), |p, s| p.join(s))
    }

    fn fs_err(&self, e: io::Error, action: Action, path: &Path) -> RemoteError {
        from_fs(e, &self.target, action, path)
    }

    fn not_found(&self, key: &str) -> RemoteError {
        RemoteError::NotFound {
            key: key.to_string(),
            target: self.target.clone(),
        }
    }

    /// Runs `f` on a clone of this on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Folder) -> Result<T, RemoteError> + Send + 'static,
    ) -> Result<T, RemoteError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(me))
            .await
            .map_err(|e| {
                RemoteError::Other(format!("a file task at {} stopped: {e}", self.target))
            })?
    }

    /// The folder exists and is a folder.
    pub(super) async fn reachable(&self) -> Result<(), RemoteError> {
        self.blocking(|me| me.check_root()).await
    }

    fn check_root(&self) -> Result<(), RemoteError> {
        match std::fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(RemoteError::NoFolder {
                path: self.root.clone(),
            }),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                Err(RemoteError::NoFolder {
                    path: self.root.clone(),
                })
            }
            Err(e) => Err(self.fs_err(e, Action::List, &self.root)),
        }
    }

    /// Creates the folders above `dest` (0700), after checking the root.
    fn make_parent(&self, dest: &Path) -> Result<(), RemoteError> {
        self.check_root()?;
        let Some(parent) = dest.parent() else {
            return Ok(());
        };
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        let existed = parent.is_dir();
        builder
            .create(parent)
            .map_err(|e| self.fs_err(e, Action::Write, parent))?;
        if existed {
            return Ok(());
        }
        // New folders: sync the ones holding them, up to the root, so the
        // path survives a power cut along with the file.
        let mut dir = parent.parent();
        while let Some(d) = dir.filter(|d| d.starts_with(&self.root)) {
            sync_dir(d).map_err(|e| self.fs_err(e, Action::Write, d))?;
            dir = d.parent();
        }
        Ok(())
    }

    pub(super) async fn put_file(
        &self,
        key: &str,
        local: &Path,
        progress: ProgressFn<'_>,
    ) -> Result<String, RemoteError> {
        let dest = self.path_of(key);
        let d = dest.clone();
        self.blocking(move |me| me.make_parent(&d)).await?;
        let tmp = temp_path(&dest);
        let local_err = |e| RemoteError::io("read the file to copy", local, e);
        let mut source = FileSource::open(local);
        let mut sink = FileSink::create(&tmp)
            .await
            .map_err(|e| self.fs_err(e, Action::Write, &tmp))?;
        let guard = RemoveOnDrop::new(&tmp);
        let copied = match copy(None, &mut source, &mut sink, progress).await {
            Ok(_) => source.finish().await.map_err(local_err),
            Err(Side::Read(e)) => Err(local_err(e)),
            Err(Side::Write(e)) => Err(self.fs_err(e, Action::Write, &dest)),
        };
        let hash = match copied {
            Ok(hash) => hash,
            Err(e) => {
                sink.discard().await;
                return Err(e);
            }
        };
        if let Err(e) = sink.finish().await {
            return Err(self.fs_err(e, Action::Write, &dest));
        }
        self.blocking(move |me| me.publish(&tmp, &dest)).await?;
        guard.disarm();
        Ok(hash)
    }

    /// Renames the synced `tmp` to `dest` and syncs the folder; removes
    /// `tmp` if that fails.
    fn publish(&self, tmp: &Path, dest: &Path) -> Result<(), RemoteError> {
        let done = std::fs::rename(tmp, dest).and_then(|()| sync_parent(dest));
        done.map_err(|e| {
            let _ = std::fs::remove_file(tmp);
            self.fs_err(e, Action::Write, dest)
        })
    }

    pub(super) async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<(), RemoteError> {
        let dest = self.path_of(key);
        self.blocking(move |me| {
            me.make_parent(&dest)?;
            let tmp = temp_path(&dest);
            let written = create_private(&tmp).and_then(|mut f| {
                f.write_all(&bytes)?;
                f.sync_all()
            });
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                return Err(me.fs_err(e, Action::Write, &dest));
            }
            me.publish(&tmp, &dest)
        })
        .await
    }

    pub(super) async fn get_to_file(
        &self,
        key: &str,
        local: &Path,
        progress: ProgressFn<'_>,
    ) -> Result<(u64, String), RemoteError> {
        self.reachable().await?;
        let from = self.path_of(key);
        let mut source = FileSource::open(&from);
        let first = match source.next().await {
            Ok(first) => first,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(self.not_found(key)),
            Err(e) => return Err(self.fs_err(e, Action::Read, &from)),
        };
        let local_err = |e| RemoteError::io("write the download file", local, e);
        let mut sink = FileSink::create(local)
            .await
            .map_err(|e| RemoteError::io("create the download file", local, e))?;
        let guard = RemoveOnDrop::new(local);
        let copied = match copy(first, &mut source, &mut sink, progress).await {
            Ok(_) => source
                .finish()
                .await
                .map_err(|e| self.fs_err(e, Action::Read, &from)),
            Err(Side::Read(e)) => Err(self.fs_err(e, Action::Read, &from)),
            Err(Side::Write(e)) => Err(local_err(e)),
        };
        if let Err(e) = copied {
            sink.discard().await;
            return Err(e);
        }
        let done = sink.finish().await.map_err(local_err)?;
        guard.disarm();
        Ok(done)
    }

    pub(super) async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, RemoteError> {
        let key = key.to_string();
        self.blocking(move |me| {
            me.check_root()?;
            let path = me.path_of(&key);
            let read = |e: io::Error| match e.kind() {
                io::ErrorKind::NotFound => me.not_found(&key),
                _ => me.fs_err(e, Action::Read, &path),
            };
            let size = std::fs::metadata(&path).map_err(read)?.len();
            if size > MAX_SMALL_OBJECT {
                return Err(RemoteError::Other(format!(
                    "{key} at {} is {size} bytes, too large to read whole (at most {MAX_SMALL_OBJECT}): copy it to a file",
                    me.target
                )));
            }
            std::fs::read(&path).map_err(read)
        })
        .await
    }

    pub(super) async fn reader(
        &self,
        key: &str,
    ) -> Result<Box<dyn std::io::Read + Send>, RemoteError> {
        let key = key.to_string();
        self.blocking(move |me| {
            me.check_root()?;
            let path = me.path_of(&key);
            match std::fs::File::open(&path) {
                Ok(f) => Ok(Box::new(f) as Box<dyn std::io::Read + Send>),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Err(me.not_found(&key)),
                Err(e) => Err(me.fs_err(e, Action::Read, &path)),
            }
        })
        .await
    }

    pub(super) async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, RemoteError> {
        let prefix = prefix.to_string();
        self.blocking(move |me| {
            me.check_root()?;
            let mut found = Vec::new();
            let dir = if prefix.is_empty() {
                me.root.clone()
            } else {
                me.path_of(&prefix)
            };
            walk(&dir, &prefix, &mut found).map_err(|e| me.fs_err(e, Action::List, &dir))?;
            Ok(found)
        })
        .await
    }

    pub(super) async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>, RemoteError> {
        let prefix = prefix.to_string();
        self.blocking(move |me| {
            me.check_root()?;
            let dir = if prefix.is_empty() {
                me.root.clone()
            } else {
                me.path_of(&prefix)
            };
            dirs_in(&dir).map_err(|e| me.fs_err(e, Action::List, &dir))
        })
        .await
    }

    pub(super) async fn exists(&self, key: &str) -> Result<bool, RemoteError> {
        let key = key.to_string();
        self.blocking(move |me| {
            me.check_root()?;
            let path = me.path_of(&key);
            match std::fs::metadata(&path) {
                Ok(m) => Ok(m.is_file()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    Ok(false)
                }
                Err(e) => Err(me.fs_err(e, Action::Read, &path)),
            }
        })
        .await
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        let key = key.to_string();
        self.blocking(move |me| {
            me.check_root()?;
            let path = me.path_of(&key);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(me.fs_err(e, Action::Delete, &path)),
            }
            me.prune(&path);
            Ok(())
        })
        .await
    }

    pub(super) async fn delete_prefix(&self, prefix: &str) -> Result<usize, RemoteError> {
        let prefix = prefix.to_string();
        self.blocking(move |me| {
            me.check_root()?;
            let dir = me.path_of(&prefix);
            let mut found = Vec::new();
            walk(&dir, &prefix, &mut found).map_err(|e| me.fs_err(e, Action::List, &dir))?;
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(me.fs_err(e, Action::Delete, &dir)),
            }
            me.prune(&dir);
            Ok(found.len())
        })
        .await
    }

    /// Removes the now empty folders above `path`, up to the root.
    fn prune(&self, path: &Path) {
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.root || !d.starts_with(&self.root) || std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }
}

#[cfg(test)]
mod tests;
