//! The daemon's own resources: resident memory, CPU time, disk use.
//!
//! Owns: reading `/proc/self` and `statvfs` for the paths the daemon writes.
//! Must never: fail the daemon — a value it cannot read is left out.

use std::path::Path;

/// One sample of the process and its disks.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Sample {
    pub rss_bytes: u64,
    pub cpu_seconds: f64,
    /// (path, used fraction of its file system).
    pub disks: Vec<(String, f64)>,
}

impl Sample {
    pub fn rss_mb(&self) -> f64 {
        self.rss_bytes as f64 / (1024.0 * 1024.0)
    }
}

/// Reads the current values; `paths` are the state and log directories.
pub fn sample(paths: &[String]) -> Sample {
    Sample {
        rss_bytes: rss_bytes().unwrap_or(0),
        cpu_seconds: cpu_seconds().unwrap_or(0.0),
        disks: paths.iter().filter_map(|p| Some((p.clone(), used_ratio(Path::new(p))?))).collect(),
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as u64 } else { 4096 }
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) close with ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| (utime + stime) / ticks as f64)
}

/// Used fraction of the file system holding `path` (or its nearest existing parent).
fn used_ratio(path: &Path) -> Option<f64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let c = std::ffi::CString::new(existing.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `stat` a properly sized out-parameter.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut stat) } != 0 || stat.f_blocks == 0 {
        return None;
    }
    let total = stat.f_blocks as f64;
    let free = stat.f_bfree as f64;
    Some((total - free) / total)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_its_own_process() {
        let s = super::sample(&["/tmp/does-not-exist/below".into()]);
        assert!(s.rss_bytes > 1024 * 1024, "{s:?}");
        assert!(s.cpu_seconds >= 0.0);
        assert_eq!(s.disks.len(), 1);
        assert!(s.disks[0].1 > 0.0 && s.disks[0].1 <= 1.0);
    }
}
