//! A log file rotated by size: `app.log` → `app.log.1.gz` → … → `app.log.N.gz`.
//!
//! Owns: appending lines, noticing the size limit (also after an outside
//! `logrotate … copytruncate` shrank the file), renaming the backups and
//! compressing the newest one with gzip.
//! Must never: lose a line at rotation (the file is renamed, then reopened,
//! under one lock), or block the writer on compression (gzip runs on its own
//! thread).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An append-only file that rotates itself at `max_bytes`, keeping `backups` gzip files.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    /// 0 never rotates (an outside logrotate does).
    max_bytes: u64,
    backups: u32,
    /// The compression of the previous rotation; joined before the next one shifts names.
    compressing: Option<std::thread::JoinHandle<()>>,
}

/// `path.N.gz`.
pub fn backup_path(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}.gz"));
    PathBuf::from(name)
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl RotatingFile {
    /// Opens (creating the directory and the file) `path`; `max_mb` 0 disables rotation.
    pub fn open(path: &Path, max_mb: u64, backups: u32) -> io::Result<RotatingFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            file,
            size,
            max_bytes: max_mb * 1024 * 1024,
            backups,
            compressing: None,
        })
    }

    /// Test hook: rotate at `bytes` instead of whole megabytes.
    pub fn with_max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.backups == 0 {
            // Nothing to keep: start the file again.
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        if let Some(previous) = self.compressing.take() {
            let _ = previous.join();
        }
        let _ = std::fs::remove_file(backup_path(&self.path, self.backups));
        for n in (1..self.backups).rev() {
            let from = backup_path(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, backup_path(&self.path, n + 1))?;
            }
        }
        let mut plain = self.path.as_os_str().to_owned();
        plain.push(".1");
        let plain = PathBuf::from(plain);
        std::fs::rename(&self.path, &plain)?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        let target = backup_path(&self.path, 1);
        self.compressing = Some(std::thread::spawn(move || {
            if let Err(e) = compress(&plain, &target) {
                eprintln!("kafka-self-healing: cannot compress {}: {e}", plain.display());
            }
        }));
        Ok(())
    }
}

fn compress(plain: &Path, target: &Path) -> io::Result<()> {
    let mut input = File::open(plain)?;
    let mut partial = target.as_os_str().to_owned();
    partial.push(".part");
    let partial = PathBuf::from(partial);
    let mut encoder = flate2::write::GzEncoder::new(File::create(&partial)?, flate2::Compression::default());
    io::copy(&mut input, &mut encoder)?;
    encoder.finish()?.sync_all()?;
    std::fs::rename(&partial, target)?;
    std::fs::remove_file(plain)
}

impl Drop for RotatingFile {
    /// A short-lived writer (an operator's command) finishes compressing the
    /// backup it started, so no `.1` half-way file is left behind.
    fn drop(&mut self) {
        if let Some(compressing) = self.compressing.take() {
            let _ = compressing.join();
        }
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.max_bytes > 0 && self.size + buf.len() as u64 > self.max_bytes {
            // Someone else may have truncated it (logrotate's copytruncate): ask the file.
            self.size = self.file.metadata().map(|m| m.len()).unwrap_or(self.size);
            if self.size > 0 && self.size + buf.len() as u64 > self.max_bytes {
                self.rotate()?;
            }
        }
        self.file.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(path: &Path) -> String {
        let mut s = String::new();
        flate2::read::GzDecoder::new(File::open(path).unwrap()).read_to_string(&mut s).unwrap();
        s
    }

    fn wait_for(path: &Path) {
        for _ in 0..200 {
            if path.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{} never appeared", path.display());
    }

    #[test]
    fn rotates_by_size_keeps_backups_compressed_and_loses_no_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/app.log");
        let mut f = RotatingFile::open(&path, 1, 2).unwrap().with_max_bytes(100);
        let mut written = Vec::new();
        for i in 0..12 {
            let line = format!("line {i:02} {}\n", "x".repeat(30));
            f.write_all(line.as_bytes()).unwrap();
            written.push(line);
        }
        wait_for(&backup_path(&path, 1));
        wait_for(&backup_path(&path, 2));
        assert!(!backup_path(&path, 3).exists(), "only two backups are kept");
        let current = std::fs::read_to_string(&path).unwrap();
        let newest = gunzip(&backup_path(&path, 1));
        let older = gunzip(&backup_path(&path, 2));
        assert!(current.len() <= 100 && newest.len() <= 100);
        // The last lines, in order, across the kept files.
        let kept = format!("{older}{newest}{current}");
        assert!(written.concat().ends_with(&kept), "kept:\n{kept}");
        assert!(kept.contains("line 11"));
    }

    #[test]
    fn an_outside_truncation_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let mut f = RotatingFile::open(&path, 1, 3).unwrap().with_max_bytes(100);
        f.write_all(&[b'a'; 90]).unwrap();
        // logrotate's copytruncate.
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
        f.write_all(&[b'b'; 20]).unwrap();
        assert!(!backup_path(&path, 1).exists());
        assert_eq!(std::fs::read(&path).unwrap(), vec![b'b'; 20]);
    }
}
