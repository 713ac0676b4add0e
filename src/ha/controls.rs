//! The operator's controls with several healers: they live in the backend
//! (`<prefix>/controls/<key>`), so a pause, a maintenance window or a reset
//! binds whichever healer leads now or later, and may be given to any healer.
//!
//! Owns: publishing one control to the backend (a command on any healer's
//! host, the API of any healer, the leader's engine taking a reset or ending
//! a window), and the mirror that copies the backend's controls into this
//! healer's store every second, where the engine, `status` and the API read
//! them as they do alone.
//! Must never: leave a control only local while `ha.enabled` (a command that
//! cannot reach the backend fails and changes nothing), or need a term
//! (controls are not fenced: a follower takes them too).

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::backend::Backend;
use super::election::Rewire;
use crate::config::Config;
use crate::store::controls::{self, Entry};

/// How often the backend's controls are copied into the store.
pub const MIRROR_EVERY: Duration = Duration::from_secs(1);

/// Publishes `entry` to the backend of `config.ha`, from outside the
/// daemon's runtime (a command; the API's blocking operator calls). True
/// when a removed control was there.
pub fn publish_blocking(config: &Config, entry: &Entry) -> Result<bool, String> {
    let backend = Backend::from_config(config, &|n| std::env::var(n).ok())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime for the backend: {e}"))?;
    runtime.block_on(backend.put_control(entry)).map_err(|e| {
        format!(
            "the operator's controls live in the coordination backend with several healers (ha.enabled), and {} \
             cannot be written: {e}; nothing was changed",
            backend.describe()
        )
    })
}

/// Copies the backend's controls into the store every `MIRROR_EVERY` until
/// `shutdown`; the store of the generation running now (`parts`).
pub async fn mirror(backend_of: std::sync::Arc<super::Ha>, parts: Rewire, shutdown: CancellationToken) {
    let mut failing = false;
    loop {
        if let Some(backend) = backend_of.backend.as_ref() {
            match backend.controls().await {
                Ok(mut entries) => {
                    entries.sort();
                    let store = parts.store();
                    let at = crate::store::millis(std::time::SystemTime::now());
                    match store.call(move |c| controls::replace_all(c, &entries, at)).await {
                        Ok(true) => {
                            info!(message = "HA: the operator's controls changed in the backend; taken over here.")
                        }
                        Ok(false) => {}
                        Err(e) => {
                            warn!(message = "HA: the backend's controls cannot be written to the store.", error = %e)
                        }
                    }
                    if failing {
                        info!(message = "HA: the backend's controls can be read again.");
                    }
                    failing = false;
                }
                Err(e) => {
                    if !failing {
                        warn!(message = "HA: the backend's controls cannot be read; this healer keeps the last ones it read.", error = %e);
                    }
                    failing = true;
                }
            }
        }
        if super::election::sleep_or_stop(MIRROR_EVERY, &shutdown).await {
            return;
        }
    }
}
