//! The composition root: configuration in, running daemon out.
//!
//! Owns: building the daemon's components from a validated `Config`, running
//! them until a signal, reloading them on SIGHUP (validate first; an invalid
//! file changes nothing), and stopping them in order.
//! Must never: contain decision logic; it wires, it does not decide.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::audit::Audit;
use crate::config::Config;
use crate::events::Event;
use crate::monitor::Prober;
use crate::notify::Notifier;
use crate::recovery::Engine;
use crate::secrets::Masker;
use crate::server::ServerState;
use crate::setup::Loaded;
use crate::store::Store;
use crate::systemd;
use crate::telemetry::{Telemetry, selfmon};
use crate::watch::{self, Board};

/// Options of `run` that are not in the configuration file.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Decide and log, but execute nothing.
    pub dry_run: bool,
}

/// What the process was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: stop gracefully (a second one: at once).
    Stop,
    /// SIGHUP: reload the configuration file.
    Reload,
}

/// One generation of the daemon: everything built from one configuration.
struct Running {
    stop: CancellationToken,
    http_stop: CancellationToken,
    tracker: TaskTracker,
    incidents: broadcast::Sender<Event>,
    grace: Duration,
}

/// Runs the daemon until a `Signal::Stop` (or the channel closes); reloads on `Signal::Reload`.
///
/// The signals are a channel so tests can drive them.
pub async fn run(mut loaded: Loaded, options: RunOptions, mut signals: mpsc::Receiver<Signal>) -> anyhow::Result<()> {
    // Counters and heartbeats outlive a reload: a reload is not a restart.
    let telemetry = Arc::new(Telemetry::default());
    let started = SystemTime::now();
    let mut kept: Option<Kept> = None;
    let mut running = start(&loaded, options, &telemetry, started, &mut kept).await?;
    let watchdog = systemd::watchdog_interval().map(|every| tokio::spawn(keep_watchdog(every, telemetry.clone())));
    systemd::notify(&format!("READY=1\nSTATUS={}", loaded.config.summary()));
    loop {
        let signal = signals.recv().await.unwrap_or(Signal::Stop);
        if signal == Signal::Stop {
            systemd::notify("STOPPING=1");
            info!("Shutdown signal received; stopping.");
            finish(running, &mut signals).await;
            // Nothing acts any more: leadership is given back last.
            if let Some(k) = kept.take() {
                k.stop().await;
            }
            break;
        }
        info!(message = "SIGHUP: reloading the configuration.", file = %loaded.path.display());
        // Off the runtime's threads (plugin discovery runs executables), and a
        // panic in there is a refused reload, never a dead daemon.
        let path = loaded.path.clone();
        let checked = tokio::task::spawn_blocking(move || crate::setup::load(&path)).await.unwrap_or_else(|e| {
            let d = crate::config::Diagnostic {
                severity: crate::config::Severity::Error,
                mark: None,
                message: format!("reading the file failed inside the daemon ({e}); please report this as a bug"),
                hint: None,
            };
            Err(crate::config::Diagnostics::new(&loaded.path, vec![d]))
        });
        let next = match checked {
            Ok(next) => next,
            Err(report) => {
                let problems = report.to_string();
                error!(
                    message = "Configuration reload refused: the file is invalid; the daemon keeps running on the previous configuration.",
                    file = %loaded.path.display(),
                    problems = %problems.trim(),
                );
                continue;
            }
        };
        systemd::notify("RELOADING=1");
        finish(running, &mut signals).await;
        let summary = next.config.summary();
        let (r, reloaded) = match start(&next, options, &telemetry, started, &mut kept).await {
            Ok(r) => (r, true),
            Err(e) => {
                error!(message = "The new configuration could not start; going back to the previous one.", error = %format!("{e:#}"));
                (start(&loaded, options, &telemetry, started, &mut kept).await?, false)
            }
        };
        running = r;
        if reloaded {
            loaded = next;
            info!(message = "Configuration reloaded.", summary = %summary);
            let reason = format!("reloaded from {} (SIGHUP): {summary}", loaded.path.display());
            let _ = running.incidents.send(Event::ConfigurationChanged { reason });
        }
        systemd::notify(&format!("READY=1\nSTATUS={summary}"));
    }
    if let Some(w) = watchdog {
        w.abort();
    }
    Ok(())
}

/// The configured channels, probes and actions that speak HTTPS (or SMTP over TLS).
fn https_users(config: &Config) -> Vec<String> {
    let n = &config.notifications;
    let https = |url: &str| url.trim_start().to_ascii_lowercase().starts_with("https://");
    let mut users: Vec<String> = Vec::new();
    let mut add = |name: &str, url: Option<&str>| {
        if url.is_some_and(https) {
            users.push(name.to_string());
        }
    };
    add("notifications.slack", n.slack.as_ref().map(|c| c.webhook_url.expose()));
    add("notifications.teams", n.teams.as_ref().map(|c| c.webhook_url.expose()));
    add("notifications.webhook", n.webhook.as_ref().map(|c| c.url.as_str()));
    add("notifications.pagerduty", n.pagerduty.as_ref().map(|c| c.events_url.as_str()));
    add("notifications.alertmanager", n.alertmanager.as_ref().map(|c| c.url.as_str()));
    add("monitoring.http", config.monitoring.http.url.as_deref());
    add("monitoring.jmx", config.monitoring.jmx.url.as_deref());
    add("recovery.http", config.recovery.http.url.as_deref());
    if n.smtp.as_ref().is_some_and(|s| s.use_tls || s.use_ssl) {
        users.push("notifications.smtp (TLS)".into());
    }
    users
}

/// The election of several healers, kept across a reload that leaves the
/// `ha` section as it was: the term goes on (a reload is no handover), and
/// the election reports to the new generation's parts.
struct Kept {
    ha: Arc<crate::ha::Ha>,
    rewire: crate::ha::election::Rewire,
    /// The `ha` section it was started with.
    section: serde_json::Value,
    stop: CancellationToken,
    tracker: TaskTracker,
    grace: Duration,
}

impl Kept {
    /// Ends the election: leadership is given back, so another healer leads at once.
    async fn stop(self) {
        self.stop.cancel();
        if tokio::time::timeout(self.grace, self.tracker.wait()).await.is_err() {
            warn!(message = "HA: the election did not stop in time; going on.", timeout_s = self.grace.as_secs_f64());
        }
    }
}

/// This healer's standing among several, for one generation: the kept
/// election when the `ha` section did not change, else a new one (the old
/// one stopped first: a changed `ha` section is a new candidacy); alone, a
/// term that lasts the generation.
async fn elect(
    config: &Config,
    parts: crate::ha::election::Parts,
    kept: &mut Option<Kept>,
    tracker: &TaskTracker,
    stop: &CancellationToken,
) -> anyhow::Result<Arc<crate::ha::Ha>> {
    let section = serde_json::to_value(&config.ha).unwrap_or_default();
    match kept.take() {
        Some(k) if config.ha.enabled && k.section == section => {
            info!(message = "HA: the ha section is unchanged; this healer keeps its standing and term.", instance = %k.ha.instance());
            k.rewire.to(parts);
            let ha = k.ha.clone();
            *kept = Some(k);
            return Ok(ha);
        }
        Some(k) => {
            info!(message = "HA: the ha section changed; this healer leaves the election and stands again.", instance = %k.ha.instance());
            k.stop().await;
        }
        None => {}
    }
    if !config.ha.enabled {
        let (ha, _) = crate::ha::election::start(config, parts, tracker, stop).map_err(|e| anyhow::anyhow!(e))?;
        return Ok(ha);
    }
    let (election_stop, election_tracker) = (CancellationToken::new(), TaskTracker::new());
    let (ha, rewire) =
        crate::ha::election::start(config, parts, &election_tracker, &election_stop).map_err(|e| anyhow::anyhow!(e))?;
    election_tracker.close();
    if let Some(rewire) = rewire {
        *kept = Some(Kept {
            ha: ha.clone(),
            rewire,
            section,
            stop: election_stop,
            tracker: election_tracker,
            grace: config.system.shutdown_timeout_seconds.duration(),
        });
    }
    Ok(ha)
}

/// Builds and starts every component of one configuration.
async fn start(
    loaded: &Loaded,
    options: RunOptions,
    telemetry: &Arc<Telemetry>,
    started: SystemTime,
    kept: &mut Option<Kept>,
) -> anyhow::Result<Running> {
    let config = &loaded.config;
    info!(
        message = "Configuration loaded.",
        file = %loaded.path.display(),
        summary = %config.summary(),
        dry_run = options.dry_run,
    );
    for w in loaded.warnings.warnings() {
        warn!(message = "Configuration warning.", detail = %w.one_line(&loaded.path));
    }
    if options.dry_run {
        info!("Dry run: recovery actions will be decided and logged, never executed.");
    }
    if let (_, Some(reason)) = crate::http_client::build(|b| b) {
        // Said once; only what needs HTTPS fails, each delivery with the same reason.
        let users = https_users(config);
        let uses = if users.is_empty() { "nothing configured".to_string() } else { users.join(", ") };
        warn!(message = "TLS certificates cannot be verified on this host: what uses HTTPS will fail until it can.", uses = %uses, reason = %reason);
    }
    // Fail fast on what an operator must fix: the HTTP port and the API token.
    let token = crate::server::read_token(config)?;
    let listener = match config.system.metrics.enabled {
        true => Some(crate::server::bind(config).await?),
        false => None,
    };
    let stop = CancellationToken::new();
    let http_stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let (events, _) = broadcast::channel(1024);
    let board = Arc::new(Board::default());
    let prober = Arc::new(Prober::from_config(config, loaded.security.clone(), loaded.plugins.clone()));
    let shared_config = Arc::new(config.clone());

    // The state store and the audit trail come first: no action without a record.
    let state_dir = Path::new(&config.system.state_dir);
    let store = Store::open(state_dir)
        .with_context(|| format!("cannot open the state store in {} (system.state_dir)", state_dir.display()))?;
    let masker = Arc::new(Masker::from_config(config, &|name| std::env::var(name).ok()));
    let audit = Audit::open(&config.cluster.name, store.clone(), &config.logging.audit, masker.clone())?;
    audit
        .record(
            "daemon_started",
            None,
            None,
            serde_json::json!({"dry_run": options.dry_run, "version": env!("CARGO_PKG_VERSION")}),
        )
        .await;

    let (incidents, _) = broadcast::channel(1024);
    // Several healers: only the one in a term acts (alone: one term until the stop).
    let parts = crate::ha::election::Parts {
        board: board.clone(),
        nodes: crate::topology::nodes(config).into_iter().map(|n| n.id).collect(),
        audit: audit.for_source("HA"),
        events: incidents.clone(),
        store: store.clone(),
    };
    let ha = elect(config, parts, kept, &tracker, &stop).await?;
    let notifier = Arc::new(Notifier::new(
        shared_config.clone(),
        store.clone(),
        audit.for_source("Notification"),
        board.clone(),
        telemetry.clone(),
        prober.plugins.clone(),
        ha.clone(),
    ));
    tracker.spawn(notifier.run(incidents.subscribe(), tracker.clone(), stop.clone()));
    let engine = Arc::new(Engine::new(
        shared_config.clone(),
        store.clone(),
        audit.for_source("Recovery"),
        masker,
        prober.clone(),
        board.clone(),
        options.dry_run,
        incidents.clone(),
        telemetry.clone(),
        ha.clone(),
    ));
    // Subscribe before the watchers start, so no failure event is missed.
    tracker.spawn(engine.clone().run(events.subscribe(), tracker.clone(), stop.clone()));
    watch::spawn(config, prober.clone(), events, board.clone(), telemetry.clone(), &tracker, stop.clone());
    tracker.spawn(crate::notify::dead_mans_switch::run(shared_config.clone(), stop.clone()));
    tracker.spawn(selfmon::watch(shared_config.clone(), telemetry.clone(), incidents.clone(), stop.clone()));
    if let Some(listener) = listener {
        let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let state = Arc::new(ServerState {
            config: shared_config,
            board,
            engine,
            store,
            telemetry: telemetry.clone(),
            started,
            token,
        });
        tracker.spawn(crate::server::serve(listener, state, http_stop.clone()));
        info!(message = "HTTP server listening.", address = %address, metrics = %config.system.metrics.endpoint);
    }
    // Plugins that could not be loaded: the daemon runs without them, and says so to people.
    let broken: Vec<String> =
        prober.plugins.discovered.errors.iter().map(|e| format!("{}: {}", e.path.display(), e.error)).collect();
    if !broken.is_empty() {
        let reason = format!("plugin(s) not loaded, the daemon runs without them: {}", broken.join("; "));
        let _ = incidents.send(Event::SystemError { reason });
    }
    tracker.close();
    info!("kafka-self-healing started; monitoring until SIGTERM or SIGINT (SIGHUP reloads the configuration).");
    Ok(Running { stop, http_stop, tracker, incidents, grace: config.system.shutdown_timeout_seconds.duration() })
}

/// Stops one generation: no new rounds or attempts, running actions finish,
/// undelivered notifications stay in the outbox — within the shutdown timeout.
/// A second stop signal meanwhile exits at once.
async fn finish(running: Running, signals: &mut mpsc::Receiver<Signal>) {
    running.stop.cancel();
    let http_stop = running.http_stop.clone();
    tokio::spawn(async move {
        // /health and /metrics answer while the rest stops; the server goes a moment later.
        tokio::time::sleep(Duration::from_millis(200)).await;
        http_stop.cancel();
    });
    let waiting = tokio::time::timeout(running.grace, running.tracker.wait());
    tokio::pin!(waiting);
    loop {
        tokio::select! {
            done = &mut waiting => {
                if done.is_err() {
                    warn!(message = "Some tasks did not stop in time; exiting anyway.", timeout_s = running.grace.as_secs_f64());
                }
                return;
            }
            signal = signals.recv() => {
                if signal == Some(Signal::Stop) {
                    warn!("Second stop signal: exiting at once; running actions are killed with the daemon.");
                    std::process::exit(1);
                }
                if signal.is_none() {
                    // No more signals can come; just wait.
                    let _ = (&mut waiting).await;
                    return;
                }
            }
        }
    }
}

/// Tells systemd's watchdog the daemon is alive while its loops tick.
async fn keep_watchdog(every: Duration, telemetry: Arc<Telemetry>) {
    loop {
        tokio::time::sleep(every).await;
        let stale = telemetry.liveness.stale(std::time::Instant::now());
        if stale.is_empty() {
            systemd::notify("WATCHDOG=1");
        } else {
            let names: Vec<&str> = stale.iter().map(|s| s.name).collect();
            warn!(message = "A loop of the daemon stalled; the systemd watchdog is not fed.", stalled = %names.join(", "));
        }
    }
}

/// Forwards SIGTERM/SIGINT as `Stop` and SIGHUP as `Reload`.
pub fn signals() -> anyhow::Result<mpsc::Receiver<Signal>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            let s = tokio::select! {
                _ = term.recv() => Signal::Stop,
                _ = int.recv() => Signal::Stop,
                _ = hup.recv() => Signal::Reload,
            };
            if tx.send(s).await.is_err() {
                return;
            }
        }
    });
    Ok(rx)
}
