//! How an install reports its progress.

/// Hears how an install goes: bytes of the archive and the current step.
pub trait Watch: Send + Sync {
    /// The archive's size, once known.
    fn set_total(&self, bytes: u64);
    /// `bytes` more of it read.
    fn add(&self, bytes: u64);
    /// What is happening now ("downloading ...", "unpacking").
    fn step(&self, what: &str);
}
