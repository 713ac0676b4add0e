//! Where the Kafka jars are, and fetching them when they are not there yet.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// A Kafka release line of the test bed, each fetched by its own pom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum KafkaLine {
    /// 3.9.x: the last line with ZooKeeper mode (brings ZooKeeper 3.8).
    #[serde(rename = "3.9")]
    V3_9,
    /// 4.x: KRaft only.
    #[serde(rename = "4")]
    V4,
    /// Not Kafka: the JMX agents (Jolokia, Prometheus JMX exporter) the test bed can attach.
    #[serde(rename = "agents")]
    Agents,
}

impl KafkaLine {
    pub fn name(self) -> &'static str {
        match self {
            KafkaLine::V3_9 => "3.9",
            KafkaLine::V4 => "4",
            KafkaLine::Agents => "agents",
        }
    }
}

/// The repository checkout holding `testing/` (for the fetch script).
pub fn repo_dir() -> PathBuf {
    std::env::var_os("KSH_REPO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

pub(crate) fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KSH_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".cache/kafka-self-healing")
}

/// The `libs/` directory of `line`, fetching it with Maven first if needed.
pub fn ensure_distribution(line: KafkaLine) -> anyhow::Result<PathBuf> {
    let libs = cache_dir().join(format!("kafka-{}", line.name())).join("libs");
    if is_complete(&libs) {
        return Ok(libs);
    }
    let script = repo_dir().join("testing/fetch-kafka.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(line.name())
        .status()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !status.success() || !is_complete(&libs) {
        bail!(
            "fetching Kafka {} failed ({}); run `bash {} {}` to see why",
            line.name(),
            status,
            script.display(),
            line.name()
        );
    }
    Ok(libs)
}

fn is_complete(libs: &Path) -> bool {
    std::fs::read_to_string(libs.join(".version")).is_ok_and(|v| !v.trim().is_empty())
}
