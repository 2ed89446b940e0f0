//! Compression writers and readers, and a writer that hashes and counts what
//! passes through it.

use crate::domain::{Codec, Compression};
use crate::engine::set::crypt::{Decrypted, Keys, Sealing};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

/// Counts and SHA-256-hashes every byte written through it; the count is
/// shared, so it can be read while the writer sits inside others.
pub struct HashWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<W: Write> HashWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: Default::default(),
        }
    }

    /// The byte count, shared.
    pub fn counter(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        self.bytes.clone()
    }

    /// The inner writer, the byte count and the hex digest.
    pub fn finish(self) -> (W, u64, String) {
        let bytes = self.bytes.load(std::sync::atomic::Ordering::Relaxed);
        (self.inner, bytes, hex::encode(self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The file end of a part: hashing over buffering over the file.
type FileSink = HashWriter<BufWriter<File>>;

/// What the compressor writes into: the file, or an age stream on it.
enum Sink {
    /// Straight to the file.
    Plain(FileSink),
    /// Encrypted (age), then to the file.
    Age(age::stream::StreamWriter<FileSink>),
}

impl Sink {
    /// Ends the age stream (its last chunk is what makes truncation
    /// detectable), if any.
    fn finish(self) -> io::Result<FileSink> {
        match self {
            Self::Plain(f) => Ok(f),
            Self::Age(w) => w.finish(),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(f) => f.write(buf),
            Self::Age(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(f) => f.flush(),
            Self::Age(w) => w.flush(),
        }
    }
}

/// A file being written: compression, then (for an encrypted set) age
/// encryption, over hashing over buffering; counts the bytes fed in
/// (uncompressed) too. The SHA-256 is of the bytes on disk.
pub struct PartWriter {
    enc: Encoder,
    raw: u64,
    on_disk: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

enum Encoder {
    /// zstd, multi-threaded.
    Zstd(zstd::stream::write::Encoder<'static, Sink>),
    /// xz, multi-threaded.
    Xz(liblzma::write::XzEncoder<Sink>),
    /// As is.
    Plain(Sink),
}

fn threads() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as u32
}

impl PartWriter {
    /// Creates `path` (which must not exist) and a compressor on it,
    /// encrypting with `sealing` when given.
    pub fn create(
        path: &Path,
        compression: Compression,
        sealing: Option<&Sealing>,
    ) -> io::Result<Self> {
        Self::create_with(path, compression, sealing, threads())
    }

    /// [`Self::create`] with at most `threads` compression threads (1 for
    /// many small files: a thread pool per file costs more than it saves).
    pub fn create_with(
        path: &Path,
        compression: Compression,
        sealing: Option<&Sealing>,
        threads: u32,
    ) -> io::Result<Self> {
        let file = private_file(path)?;
        let file = HashWriter::new(BufWriter::with_capacity(1 << 20, file));
        let on_disk = file.counter();
        let sink = match sealing {
            Some(s) => Sink::Age(s.wrap(file)?),
            None => Sink::Plain(file),
        };
        let enc = match compression.codec {
            Codec::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(sink, compression.level as i32)?;
                enc.include_checksum(true)?;
                if threads > 1 {
                    enc.multithread(threads)?;
                }
                Encoder::Zstd(enc)
            }
            Codec::Xz => {
                let stream = liblzma::stream::MtStreamBuilder::new()
                    .preset(compression.level)
                    .check(liblzma::stream::Check::Crc64)
                    .threads(threads.max(1))
                    .encoder()
                    .map_err(io::Error::other)?;
                Encoder::Xz(liblzma::write::XzEncoder::new_stream(sink, stream))
            }
            Codec::None => Encoder::Plain(sink),
        };
        Ok(Self {
            enc,
            raw: 0,
            on_disk,
        })
    }

    /// Uncompressed bytes fed in so far.
    pub fn raw_bytes(&self) -> u64 {
        self.raw
    }

    /// Bytes written to the file so far (an undercount while the encoder buffers).
    pub fn bytes_on_disk(&self) -> u64 {
        self.on_disk.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Ends the stream, flushes, fsyncs; returns bytes on disk and SHA-256.
    pub fn finish(self) -> io::Result<(u64, String)> {
        let sink = match self.enc {
            Encoder::Zstd(e) => e.finish()?,
            Encoder::Xz(e) => e.finish()?,
            Encoder::Plain(w) => w,
        };
        let (buf, bytes, sha) = sink.finish()?.finish();
        let file = buf.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok((bytes, sha))
    }
}

impl Write for PartWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match &mut self.enc {
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Xz(e) => e.write(buf),
            Encoder::Plain(w) => w.write(buf),
        }?;
        self.raw += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.enc {
            Encoder::Zstd(e) => e.flush(),
            Encoder::Xz(e) => e.flush(),
            Encoder::Plain(w) => w.flush(),
        }
    }
}

/// Writes a small whole file the way parts are written (encrypted when
/// `sealing` is given), fsynced; returns its size and SHA-256.
pub fn write_small(
    path: &Path,
    bytes: &[u8],
    sealing: Option<&Sealing>,
) -> io::Result<(u64, String)> {
    let mut w = PartWriter::create(
        path,
        Compression::new(Codec::None, None).map_err(io::Error::other)?,
        sealing,
    )?;
    w.write_all(bytes)?;
    w.finish()
}

/// Creates a new file only its owner can read (backups hold the database's
/// data and role password hashes). Fails if it exists.
pub fn private_file(path: &Path) -> io::Result<File> {
    let mut opts = File::options();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Creates a folder (and its parents) and makes it owner-only.
pub fn private_dir(path: &Path) -> io::Result<()> {
    std::fs::create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// A decompressing reader over `r` (all frames / streams, to the end).
pub fn decoder<R: Read + Send + 'static>(r: R, codec: Codec) -> io::Result<Box<dyn Read + Send>> {
    let buffered = BufReader::with_capacity(1 << 20, r);
    Ok(match codec {
        Codec::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
        Codec::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(buffered)),
        Codec::None => Box::new(buffered),
    })
}

/// A reader of a part's SQL: decrypted first when the set is encrypted
/// (`keys`), then decompressed. `what` names the file in errors.
pub fn sql_reader<R: Read + Send + 'static>(
    r: R,
    codec: Codec,
    keys: Option<&Keys>,
    what: &str,
) -> Result<Box<dyn Read + Send>, crate::engine::EngineError> {
    let io =
        |e: io::Error| crate::engine::EngineError::Failed(format!("{what} cannot be read: {e}"));
    match keys {
        None => decoder(r, codec).map_err(io),
        Some(keys) => {
            let plain = keys.open(BufReader::with_capacity(1 << 20, r), what)?;
            decoder(Decrypted::new(plain, what), codec).map_err(io)
        }
    }
}

/// Counts and hashes what is read through it; shares the tally so it can be
/// read after the reader was moved into a decoder.
pub struct HashReader<R> {
    inner: R,
    tally: std::sync::Arc<std::sync::Mutex<(Sha256, u64)>>,
}

impl<R: Read> HashReader<R> {
    /// Wraps `inner`; the tally gives (hasher, bytes).
    pub fn new(inner: R) -> (Self, std::sync::Arc<std::sync::Mutex<(Sha256, u64)>>) {
        let tally = std::sync::Arc::new(std::sync::Mutex::new((Sha256::new(), 0)));
        (
            Self {
                inner,
                tally: tally.clone(),
            },
            tally,
        )
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut t) = self.tally.lock() {
            t.0.update(&buf[..n]);
            t.1 += n as u64;
        }
        Ok(n)
    }
}

/// SHA-256 and size of a file, streamed.
pub fn sha256_file(path: &Path) -> io::Result<(u64, String)> {
    let mut file = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips_and_hashes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{i}\trow\n").into_bytes())
            .collect();
        for codec in Codec::ALL {
            let c = Compression::new(codec, None).unwrap();
            let path = dir.path().join(format!("part{}", codec.suffix()));
            let mut w = PartWriter::create(&path, c, None).unwrap();
            w.write_all(&data).unwrap();
            assert_eq!(w.raw_bytes(), data.len() as u64);
            let (bytes, sha) = w.finish().unwrap();
            assert_eq!(sha256_file(&path).unwrap(), (bytes, sha));
            let mut back = Vec::new();
            decoder(File::open(&path).unwrap(), codec)
                .unwrap()
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == data, "{codec} did not round-trip");
            if codec != Codec::None {
                assert!(bytes < data.len() as u64 / 3, "{codec} did not compress");
            }
            // An existing file is never overwritten.
            assert!(PartWriter::create(&path, c, None).is_err());
        }
    }

    #[test]
    fn damaged_compressed_data_fails_to_read() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..50_000u32)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        for codec in [Codec::Zstd, Codec::Xz] {
            let path = dir.path().join(format!("p{}", codec.suffix()));
            let mut w =
                PartWriter::create(&path, Compression::new(codec, None).unwrap(), None).unwrap();
            w.write_all(&data).unwrap();
            w.finish().unwrap();
            let mut bytes = std::fs::read(&path).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x55;
            std::fs::write(&path, &bytes).unwrap();
            let mut out = Vec::new();
            let r = decoder(File::open(&path).unwrap(), codec)
                .unwrap()
                .read_to_end(&mut out);
            assert!(r.is_err() || out != data, "{codec}: damage went unnoticed");
        }
    }
}
