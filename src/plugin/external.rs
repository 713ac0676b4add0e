//! External plugins: executables in the plugin directories, in any language.
//!
//! Owns: discovery (`discover`: the manifests — a sidecar `NAME.yaml` or the
//! answer to `PLUGIN describe` — and Nagios-style monitors without one), the
//! versioned JSON protocol (one request on stdin, one answer on stdout), and
//! running one invocation in isolation: its own process group, a time limit
//! (then SIGKILL to the group), bounded output, and an error that names the
//! plugin, what was wrong and an excerpt.
//! Must never: let a plugin hang, crash or flood the daemon — every failure is
//! a `PluginError`, never a panic — or pass a plugin a secret it was not given
//! in its own `config`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use super::Kind;

/// The protocol this daemon speaks; a plugin declaring another is refused.
pub const PROTOCOL_VERSION: u64 = 1;
/// Default time limit of one invocation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Most a plugin may print on stdout; more is an error (and is not kept).
pub const MAX_STDOUT: usize = 1024 * 1024;
/// Kept of stderr, for the error message.
const MAX_STDERR: usize = 4 * 1024;
/// Time limit of a `describe` call at discovery in `monitoring/`, where a
/// file that does not answer is a Nagios check: a manifest is a constant
/// answer, and a check that hangs when asked must not hold up `validate`,
/// `check`, a start or a reload (the calls of a directory run in parallel).
const DESCRIBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Elsewhere `describe` is the only manifest a file without a sidecar has:
/// a slow interpreter gets longer before the file is a load error.
const DESCRIBE_TIMEOUT_ONLY_MANIFEST: Duration = Duration::from_secs(5);

/// How the daemon talks to the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// JSON request on stdin, JSON answer on stdout (`docs/plugins.md`).
    Protocol,
    /// A Nagios check: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; first line the message.
    Nagios,
}

/// A discovered plugin.
#[derive(Debug, Clone, Serialize)]
pub struct External {
    pub name: String,
    #[serde(serialize_with = "kind_name")]
    pub kind: Kind,
    pub path: PathBuf,
    pub style: Style,
    /// The time limit of one invocation: what the manifest asked
    /// (`timeout_seconds`), else [`DEFAULT_TIMEOUT`]. A monitor never gets more
    /// than its node's monitoring timeout ([`External::monitor_limit`]).
    #[serde(serialize_with = "secs")]
    pub timeout: Duration,
    /// Whether the manifest asked for `timeout` (else it is the default).
    pub timeout_asked: bool,
    pub description: String,
    /// Where the manifest came from: `NAME.yaml`, `describe`, or `nagios` (none).
    pub manifest: String,
    /// JSON Schema of the plugin's `config`, when it gave one (shown, not enforced).
    pub config_schema: Option<Value>,
}

fn kind_name<S: serde::Serializer>(k: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.dir())
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A file that looked like a plugin and could not be loaded.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LoadError {
    pub path: PathBuf,
    pub error: String,
}

/// What discovery found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Discovered {
    pub plugins: Vec<External>,
    pub errors: Vec<LoadError>,
}

impl Discovered {
    pub fn find(&self, kind: Kind, name: &str) -> Option<&External> {
        self.plugins.iter().find(|p| p.kind == kind && p.name == name)
    }

    /// The load error of a plugin file named `name` (without extension), if any.
    pub fn error_of(&self, name: &str) -> Option<&LoadError> {
        self.errors.iter().find(|e| stem(&e.path) == name)
    }
}

fn stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Reads every directory in `directories`: its `monitoring/`, `recovery/` and
/// `notification/` subdirectories (the kind is the directory's), or plugins
/// directly in it (the kind is the manifest's — unless the directory itself
/// is named `monitoring`, `recovery` or `notification`: then it is that kind).
/// Missing directories are fine; a file found twice (a directory listed
/// both directly and as its parent's subdirectory) counts once.
pub fn discover(directories: &[String]) -> Discovered {
    let mut found = Discovered::default();
    for dir in directories {
        let dir = Path::new(dir);
        for kind in [Kind::Monitor, Kind::Action, Kind::Notifier] {
            scan(&dir.join(kind.dir()), Some(kind), &mut found);
        }
        let own = dir.file_name().and_then(|n| n.to_str()).and_then(Kind::parse);
        scan(dir, own, &mut found);
    }
    // The first directory wins; a second plugin of the same kind and name is an error.
    let mut seen: Vec<(Kind, String)> = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut kept = Vec::new();
    for p in std::mem::take(&mut found.plugins) {
        let file = p.path.canonicalize().unwrap_or_else(|_| p.path.clone());
        if files.contains(&file) {
            continue;
        }
        files.push(file);
        if seen.contains(&(p.kind, p.name.clone())) {
            found.errors.push(LoadError {
                path: p.path.clone(),
                error: format!("another {} plugin is already called `{}`; rename one", p.kind.noun(), p.name),
            });
        } else {
            seen.push((p.kind, p.name.clone()));
            kept.push(p);
        }
    }
    found.plugins = kept;
    let mut failed: Vec<PathBuf> = Vec::new();
    found.errors.retain(|e| {
        let file = e.path.canonicalize().unwrap_or_else(|_| e.path.clone());
        let first = !failed.contains(&file);
        failed.push(file);
        first
    });
    found
}

fn scan(dir: &Path, kind: Option<Kind>, found: &mut Discovered) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| is_executable(p)).collect();
    paths.sort();
    // Every file at once: the directory takes one `describe` bound, not one per file.
    let loaded: Vec<Result<External, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = paths.iter().map(|path| scope.spawn(move || load_cached(path, kind))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("loading it failed inside the daemon; please report this".into())))
            .collect()
    });
    for (path, result) in paths.into_iter().zip(loaded) {
        match result {
            Ok(p) => found.plugins.push(p),
            Err(error) => found.errors.push(LoadError { path, error }),
        }
    }
}

/// What a file and its sidecar looked like when it was loaded: a reload
/// does not ask an unchanged executable again.
type Seen = (PathBuf, Option<Kind>, Option<(u64, std::time::SystemTime)>, Option<(u64, std::time::SystemTime)>);

fn stamp(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let m = path.metadata().ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// `load`, remembered per file, size and modification time (the file's and its sidecar's).
fn load_cached(path: &Path, dir_kind: Option<Kind>) -> Result<External, String> {
    static CACHE: std::sync::Mutex<Vec<(Seen, Result<External, String>)>> = std::sync::Mutex::new(Vec::new());
    let key: Seen = (path.to_path_buf(), dir_kind, stamp(path), stamp(&path.with_extension("yaml")));
    let lock = || CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, hit)) = lock().iter().find(|(k, _)| *k == key) {
        return hit.clone();
    }
    let result = load(path, dir_kind);
    let mut cache = lock();
    cache.retain(|(k, _)| k.0 != key.0 || k.1 != key.1);
    cache.push((key, result.clone()));
    result
}

/// The manifest of `path`: its sidecar, else its `describe` answer, else (in a
/// monitoring directory) a Nagios check.
fn load(path: &Path, dir_kind: Option<Kind>) -> Result<External, String> {
    let sidecar = path.with_extension("yaml");
    let (manifest, source) = if sidecar.exists() && sidecar != path {
        let text = std::fs::read_to_string(&sidecar).map_err(|e| format!("cannot read {}: {e}", sidecar.display()))?;
        (parse_sidecar(&text).map_err(|e| format!("{}: {e}", sidecar.display()))?, "NAME.yaml".to_string())
    } else {
        let limit = if dir_kind == Some(Kind::Monitor) { DESCRIBE_TIMEOUT } else { DESCRIBE_TIMEOUT_ONLY_MANIFEST };
        match describe(path, limit) {
            Ok(m) => (m, "describe".to_string()),
            Err(e) if dir_kind == Some(Kind::Monitor) => {
                let _ = e; // Not a protocol plugin: a Nagios check, named by its file.
                return Ok(External {
                    name: stem(path),
                    kind: Kind::Monitor,
                    path: path.to_path_buf(),
                    style: Style::Nagios,
                    timeout: DEFAULT_TIMEOUT,
                    timeout_asked: false,
                    description: "Nagios-style check (exit 0/1/2/3)".into(),
                    manifest: "nagios".into(),
                    config_schema: None,
                });
            }
            Err(e) if dir_kind.is_none() => {
                return Err(format!("no manifest: no {} and `describe` failed: {e}", sidecar.display()));
            }
            Err(e) => {
                return Err(format!(
                    "no manifest: add {} (name, kind, protocol_version) or answer `describe`; `describe` said: {e}",
                    sidecar.display()
                ));
            }
        }
    };
    manifest.into_external(path, dir_kind, source)
}

/// A manifest as written by the plugin's author.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub protocol_version: Option<u64>,
    pub timeout_seconds: Option<f64>,
    pub description: Option<String>,
    pub config_schema: Option<Value>,
}

impl Manifest {
    fn from_json(v: &Value) -> Result<Manifest, String> {
        let obj = v.as_object().ok_or("the manifest is not an object")?;
        let known = ["name", "kind", "protocol_version", "timeout_seconds", "description", "config_schema"];
        if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!("unknown manifest key `{k}` (known: {})", known.join(", ")));
        }
        let string = |k: &str| -> Result<Option<String>, String> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(format!("`{k}` must be a string, found {other}")),
            }
        };
        Ok(Manifest {
            name: string("name")?,
            kind: string("kind")?,
            protocol_version: match obj.get("protocol_version") {
                None => None,
                Some(v) => {
                    Some(v.as_u64().ok_or_else(|| format!("`protocol_version` must be a whole number, found {v}"))?)
                }
            },
            timeout_seconds: match obj.get("timeout_seconds") {
                None => None,
                Some(v) => Some(
                    v.as_f64()
                        .filter(|t| *t > 0.0)
                        .ok_or_else(|| format!("`timeout_seconds` must be a positive number, found {v}"))?,
                ),
            },
            description: string("description")?,
            config_schema: obj.get("config_schema").cloned(),
        })
    }

    fn into_external(self, path: &Path, dir_kind: Option<Kind>, source: String) -> Result<External, String> {
        let version = self.protocol_version.ok_or("the manifest has no `protocol_version`")?;
        if version != PROTOCOL_VERSION {
            return Err(format!(
                "protocol_version {version} is not supported: this daemon speaks version {PROTOCOL_VERSION} (docs/plugins.md)"
            ));
        }
        let declared = match self.kind.as_deref() {
            None => None,
            Some(k) => Some(
                Kind::parse(k)
                    .ok_or_else(|| format!("unknown kind `{k}`: write monitoring, recovery or notification"))?,
            ),
        };
        let kind = match (dir_kind, declared) {
            (Some(d), Some(k)) if d != k => {
                return Err(format!(
                    "the manifest says kind `{}` but the file is in a `{}` directory",
                    k.dir(),
                    d.dir()
                ));
            }
            (Some(d), _) => d,
            (None, Some(k)) => k,
            (None, None) => return Err("the manifest has no `kind` (monitoring, recovery or notification)".into()),
        };
        let name = self.name.unwrap_or_else(|| stem(path));
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(format!("`{name}` is not a plugin name (letters, digits, `_` and `-`)"));
        }
        if super::builtin(kind, &name).is_some() {
            return Err(format!("`{name}` is a built-in {}; give the plugin another name", kind.noun()));
        }
        Ok(External {
            name,
            kind,
            path: path.to_path_buf(),
            style: Style::Protocol,
            timeout: self.timeout_seconds.map_or(DEFAULT_TIMEOUT, Duration::from_secs_f64),
            timeout_asked: self.timeout_seconds.is_some(),
            description: self.description.unwrap_or_default(),
            manifest: source,
            config_schema: self.config_schema,
        })
    }
}

/// A sidecar `NAME.yaml`: flat `key: value` lines (and `config_schema` as JSON).
fn parse_sidecar(text: &str) -> Result<Manifest, String> {
    let root = crate::config::yaml_to_json(text)?;
    Manifest::from_json(&root)
}

/// Asks `path describe` for its manifest (JSON on stdout). Discovery runs
/// while the configuration loads, outside any runtime: the one child spawner
/// runs on a small runtime of its own, on a thread of its own.
fn describe(path: &Path, limit: Duration) -> Result<Manifest, String> {
    let spec = crate::child::Spec {
        program: path.as_os_str(),
        args: vec!["describe".into()],
        env: Vec::new(),
        stdin: None,
        stdout: crate::child::Keep::Head(MAX_STDOUT),
        stderr: crate::child::Keep::Nothing,
        limit,
        at_limit: crate::child::AtLimit::Kill,
        death_signal: libc::SIGKILL,
    };
    let exit = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                runtime.block_on(crate::child::run(spec))
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the describe thread failed")))
    })
    .map_err(|e| format!("cannot run it: {e}"))?;
    if exit.timed_out {
        return Err(format!("no answer within {limit:?}"));
    }
    let out = &exit.stdout.head;
    let v: Value = serde_json::from_slice(out).map_err(|_| format!("not a JSON manifest: {}", excerpt(out)))?;
    Manifest::from_json(&v)
}

/// An invocation that did not give a usable answer.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginError {
    pub plugin: String,
    /// What was wrong, for people: `did not answer within 5s and was killed`, …
    pub what: String,
    /// The start of what it printed (stdout, else stderr).
    pub excerpt: String,
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "plugin `{}`: {}", self.plugin, self.what)?;
        if !self.excerpt.is_empty() {
            write!(f, " (output: {})", self.excerpt)?;
        }
        Ok(())
    }
}

/// The first 200 characters of `bytes`, on one line.
pub fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(400)]);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut cut: String = one_line.chars().take(200).collect();
    if one_line.chars().count() > 200 {
        cut.push('…');
    }
    cut
}

/// What one run of a plugin gave.
#[derive(Debug, Clone)]
pub struct RawRun {
    pub exit_code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub duration: Duration,
}

/// Runs `plugin` once with `stdin` (and `args`, `env`): own process group,
/// killed with it at the time limit, stdout bounded by `MAX_STDOUT`.
impl External {
    /// A monitor's time limit on a node whose probes have `node_timeout`: the
    /// node's own, or less when the manifest asks for less — never more.
    pub fn monitor_limit(&self, node_timeout: Duration) -> Duration {
        if self.timeout_asked { self.timeout.min(node_timeout) } else { node_timeout }
    }
}

/// Runs the plugin once within its own time limit (`plugin.timeout`).
pub async fn run(
    plugin: &External,
    args: &[&str],
    env: &[(String, String)],
    stdin: Option<&[u8]>,
) -> Result<RawRun, PluginError> {
    run_within(plugin, plugin.timeout, args, env, stdin).await
}

/// Runs the plugin once; killed (its whole process group) at `limit`.
pub async fn run_within(
    plugin: &External,
    limit: Duration,
    args: &[&str],
    env: &[(String, String)],
    stdin: Option<&[u8]>,
) -> Result<RawRun, PluginError> {
    let err = |what: String, out: &[u8]| PluginError { plugin: plugin.name.clone(), what, excerpt: excerpt(out) };
    let spec = crate::child::Spec {
        program: plugin.path.as_os_str(),
        args: args.iter().map(Into::into).collect(),
        env: env.to_vec(),
        stdin,
        stdout: crate::child::Keep::Head(MAX_STDOUT),
        stderr: crate::child::Keep::Head(MAX_STDERR),
        limit,
        at_limit: crate::child::AtLimit::Kill,
        // The plugin dies with the daemon, even a SIGKILLed one.
        death_signal: libc::SIGKILL,
    };
    let exit =
        crate::child::run(spec).await.map_err(|e| err(format!("cannot start {}: {e}", plugin.path.display()), &[]))?;
    if exit.timed_out {
        return Err(err(format!("did not answer within {limit:?} and was killed"), &[]));
    }
    if exit.stdout.left_out > 0 {
        return Err(err(format!("printed more than {} KiB on stdout", MAX_STDOUT / 1024), &exit.stdout.head));
    }
    if exit.stdout.held_open {
        return Err(err("exited, but a process it started keeps its stdout open".into(), &[]));
    }
    Ok(RawRun { exit_code: exit.code, stdout: exit.stdout.head, stderr: exit.stderr.head, duration: exit.duration })
}

/// Reads a protocol answer: one JSON object on stdout.
pub fn answer(plugin: &External, raw: &RawRun) -> Result<serde_json::Map<String, Value>, PluginError> {
    let err = |what: String| PluginError {
        plugin: plugin.name.clone(),
        what,
        excerpt: if raw.stdout.iter().all(u8::is_ascii_whitespace) {
            excerpt(&raw.stderr)
        } else {
            excerpt(&raw.stdout)
        },
    };
    let Some(code) = raw.exit_code else { return Err(err("was killed by a signal (crashed)".into())) };
    let parsed: Result<Value, _> = serde_json::from_slice(&raw.stdout);
    match parsed {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(err(format!(
            "answered JSON that is not an object (exit {code}): {}",
            excerpt(other.to_string().as_bytes())
        ))),
        Err(_) if raw.stdout.iter().all(u8::is_ascii_whitespace) => {
            Err(err(format!("printed nothing on stdout (exit {code})")))
        }
        Err(e) => Err(err(format!("printed something that is not JSON (exit {code}): {e}"))),
    }
}

/// The request a plugin of `kind` gets on stdin.
pub fn request(kind: Kind, body: Value, config: &Value) -> Value {
    let mut r = json!({"protocol_version": PROTOCOL_VERSION, "kind": kind.dir(), "config": config});
    if let (Value::Object(r), Value::Object(b)) = (&mut r, body) {
        r.extend(b);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(code: Option<i32>, out: &str) -> RawRun {
        RawRun { exit_code: code, stdout: out.as_bytes().to_vec(), stderr: b"trace".to_vec(), duration: Duration::ZERO }
    }

    fn plugin() -> External {
        External {
            name: "p".into(),
            kind: Kind::Monitor,
            path: "/x".into(),
            style: Style::Protocol,
            timeout: DEFAULT_TIMEOUT,
            timeout_asked: false,
            description: String::new(),
            manifest: "describe".into(),
            config_schema: None,
        }
    }

    #[test]
    fn answers_that_are_not_one_json_object_are_named() {
        let p = plugin();
        assert!(answer(&p, &raw(Some(0), "{\"status\": \"healthy\"}")).is_ok());
        let garbage = answer(&p, &raw(Some(0), "%%% not json")).unwrap_err();
        assert!(garbage.what.starts_with("printed something that is not JSON"), "{garbage}");
        assert_eq!(garbage.excerpt, "%%% not json");
        assert_eq!(answer(&p, &raw(None, "")).unwrap_err().what, "was killed by a signal (crashed)");
        let nothing = answer(&p, &raw(Some(2), "")).unwrap_err();
        assert_eq!((nothing.what.as_str(), nothing.excerpt.as_str()), ("printed nothing on stdout (exit 2)", "trace"));
        assert!(answer(&p, &raw(Some(0), "[1]")).unwrap_err().what.contains("not an object"));
    }

    #[test]
    fn discovery_is_bounded_by_one_describe_whatever_hangs_and_remembers_what_it_found() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let monitoring = dir.path().join("monitoring");
        std::fs::create_dir(&monitoring).unwrap();
        // Three Nagios checks that hang when asked `describe` (they ignore their
        // arguments), and a protocol plugin that answers it.
        for name in ["check_a", "check_b", "check_c"] {
            let path = monitoring.join(name);
            std::fs::write(
                &path,
                "#!/bin/sh
exec sleep 30
",
            )
            .unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let answers = monitoring.join("answers");
        std::fs::write(
            &answers,
            "#!/bin/sh
echo '{\"name\": \"answers\", \"kind\": \"monitoring\", \"protocol_version\": 1}'
",
        )
        .unwrap();
        std::fs::set_permissions(&answers, std::fs::Permissions::from_mode(0o755)).unwrap();
        let dirs = vec![dir.path().display().to_string()];
        let started = std::time::Instant::now();
        let found = discover(&dirs);
        let first = started.elapsed();
        let styles: Vec<(String, Style)> = found.plugins.iter().map(|p| (p.name.clone(), p.style)).collect();
        assert_eq!(
            styles,
            [
                ("answers".to_string(), Style::Protocol),
                ("check_a".into(), Style::Nagios),
                ("check_b".into(), Style::Nagios),
                ("check_c".into(), Style::Nagios)
            ]
        );
        // One bound for the directory, not 3 × 5 s as before (generous for a loaded machine).
        assert!(first < Duration::from_secs(4), "{first:?}");
        // Unchanged files are not asked again (a reload, or `check` after the load).
        let started = std::time::Instant::now();
        let again = discover(&dirs);
        assert_eq!(again.plugins.len(), 4);
        assert!(started.elapsed() < DESCRIBE_TIMEOUT, "{:?}", started.elapsed());
    }

    #[test]
    fn manifests_are_checked() {
        let m =
            |v: Value| Manifest::from_json(&v).and_then(|m| m.into_external(Path::new("/p/check_x"), None, "t".into()));
        let ok =
            m(json!({"name": "check_x", "kind": "monitoring", "protocol_version": 1, "timeout_seconds": 2})).unwrap();
        assert_eq!((ok.kind, ok.timeout), (Kind::Monitor, Duration::from_secs(2)));
        assert!(
            m(json!({"kind": "monitoring", "protocol_version": 2}))
                .unwrap_err()
                .contains("protocol_version 2 is not supported")
        );
        assert!(m(json!({"kind": "monitoring"})).unwrap_err().contains("no `protocol_version`"));
        assert!(m(json!({"kind": "fixing", "protocol_version": 1})).unwrap_err().contains("unknown kind `fixing`"));
        assert!(
            m(json!({"kind": "monitoring", "protocol_version": 1, "colour": 1}))
                .unwrap_err()
                .contains("unknown manifest key `colour`")
        );
        assert!(
            m(json!({"name": "socket", "kind": "monitoring", "protocol_version": 1})).unwrap_err().contains("built-in")
        );
        let in_dir = Manifest::from_json(&json!({"kind": "recovery", "protocol_version": 1})).unwrap().into_external(
            Path::new("/p/x"),
            Some(Kind::Monitor),
            "t".into(),
        );
        assert!(in_dir.unwrap_err().contains("in a `monitoring` directory"));
    }
}
