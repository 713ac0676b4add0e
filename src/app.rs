//! The composition root: configuration in, running daemon out.
//!
//! Owns: building the daemon's components from a validated `Config`, running
//! them until a shutdown signal, and stopping them in order.
//! Must never: contain decision logic; it wires, it does not decide.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use std::path::Path;

use anyhow::Context;

use crate::audit::Audit;
use crate::config::Loaded;
use crate::monitor::Prober;
use crate::notify::Notifier;
use crate::recovery::Engine;
use crate::secrets::Masker;
use crate::server::ServerState;
use crate::store::Store;
use crate::telemetry::Telemetry;
use crate::watch::{self, Board};

/// Options of `run` that are not in the configuration file.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Decide and log, but execute nothing.
    pub dry_run: bool,
}

/// Runs the daemon until `shutdown` completes.
///
/// The shutdown signal is a parameter so tests can drive it.
pub async fn run(loaded: Loaded, options: RunOptions, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
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
    // Fail fast on what an operator must fix: the HTTP port and the API token.
    let token = crate::server::read_token(config)?;
    let listener = match config.system.metrics.enabled {
        true => Some(crate::server::bind(config).await?),
        false => None,
    };
    let telemetry = Arc::new(Telemetry::default());
    let stop = CancellationToken::new();
    let http_stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let (events, _) = broadcast::channel(1024);
    let board = Arc::new(Board::default());
    let prober = Arc::new(Prober::from_config(config, loaded.security.clone()));

    // The state store and the audit trail come first: no action without a record.
    let state_dir = Path::new(&config.system.state_dir);
    let store = Store::open(state_dir)
        .with_context(|| format!("cannot open the state store in {} (system.state_dir)", state_dir.display()))?;
    let masker = Arc::new(Masker::from_config(config, &|name| std::env::var(name).ok()));
    let audit_file = config
        .logging
        .audit
        .enabled
        .then(|| Path::new(&config.logging.audit.file))
        .filter(|p| !p.as_os_str().is_empty());
    let audit = Audit::open(&config.cluster.name, store.clone(), audit_file, masker.clone())?;
    audit
        .record(
            "daemon_started",
            None,
            None,
            serde_json::json!({"dry_run": options.dry_run, "version": env!("CARGO_PKG_VERSION")}),
        )
        .await;

    let (incidents, _) = broadcast::channel(1024);
    let notifier = Arc::new(Notifier::new(
        Arc::new(config.clone()),
        store.clone(),
        audit.clone(),
        board.clone(),
        telemetry.clone(),
    ));
    tracker.spawn(notifier.run(incidents.subscribe(), tracker.clone(), stop.clone()));
    let engine = Arc::new(Engine::new(
        Arc::new(config.clone()),
        store.clone(),
        audit.clone(),
        masker,
        prober.clone(),
        board.clone(),
        options.dry_run,
        incidents,
        telemetry.clone(),
    ));
    // Subscribe before the watchers start, so no failure event is missed.
    tracker.spawn(engine.clone().run(events.subscribe(), tracker.clone(), stop.clone()));
    watch::spawn(config, prober, events, board.clone(), telemetry.clone(), &tracker, stop.clone());
    if let Some(listener) = listener {
        let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let state = Arc::new(ServerState {
            config: Arc::new(config.clone()),
            board,
            engine: engine.clone(),
            store: store.clone(),
            telemetry: telemetry.clone(),
            started: std::time::SystemTime::now(),
            token,
        });
        // The server stops last: it keeps answering while the rest shuts down.
        tracker.spawn(crate::server::serve(listener, state, http_stop.clone()));
        info!(message = "HTTP server listening.", address = %address, metrics = %config.system.metrics.endpoint);
    }
    tracker.close();
    info!("kafka-self-healing started; monitoring until SIGTERM or SIGINT.");
    shutdown.await;
    info!("Shutdown signal received; stopping.");
    stop.cancel();
    let grace = config.system.shutdown_timeout_seconds.duration();
    let http_later = http_stop.clone();
    tokio::spawn(async move {
        // Answer /health and /metrics while recovery actions finish; stop serving a little before the deadline.
        tokio::time::sleep(Duration::from_millis(200)).await;
        http_later.cancel();
    });
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        warn!(message = "Some tasks did not stop in time; exiting anyway.", timeout_s = grace.as_secs_f64());
    }
    Ok(())
}

/// Completes on the first SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            warn!(message = "Cannot listen for SIGTERM; only SIGINT stops the daemon.", error = %e);
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
