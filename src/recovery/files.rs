//! The operator's per-role scripts and playbooks on disk.
//!
//! Owns: which file a `script` or `ansible` step runs for a node type, found
//! on disk — for the plan (`actions`, which is given this lookup) and for
//! validation (said at load, not when an incident first reaches the step).
//! Must never: run or change a file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::Role;

/// The file for the node's role in `map`, else `<node_type>.<ext>`, else `default.<ext>`.
pub fn per_role_file(dir: &str, map: &BTreeMap<String, String>, role: Role, ext: &str) -> Result<PathBuf, String> {
    let dir = Path::new(dir);
    if let Some(name) = map.get(role.as_str()).or_else(|| map.get("default")) {
        let path = dir.join(name);
        return if path.is_file() { Ok(path) } else { Err(format!("{} does not exist", path.display())) };
    }
    let candidates = [dir.join(format!("{}.{ext}", role.as_str())), dir.join(format!("default.{ext}"))];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| format!("neither {} nor {} exists", candidates[0].display(), candidates[1].display()))
}
