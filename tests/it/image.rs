//! The container image, built and run. No image registry is reachable and
//! `podman run` cannot run on this machine (crun refuses its v1/v2 hybrid
//! cgroups, and root lacks CAP_SYS_RESOURCE for podman's default rlimits), so:
//! the base is a Debian root bootstrapped with `mmdebstrap` and imported with
//! `podman import`; the Dockerfile is built by Debian's `buildah` (chroot
//! isolation, its `prebuilt` target: the host's release binary and jar); the
//! image is checked for what `docker run` relies on (entrypoint, command,
//! user, port, volume, stop signal, health check); and it runs with
//! `buildah run` as its entrypoint and user say, against the loopback test
//! bed, where it repairs a killed broker through an orchestrator's webhook.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_testbed::{Cluster, Spec, cluster_section};
use serde_json::Value;

use crate::recovery::Webhook;
use crate::support::{cluster_lock, repo, run, stderr, stdout};

const BASE: &str = "localhost/kafka-self-healing-base:bookworm";

fn cache_dir() -> PathBuf {
    std::env::var_os("KSH_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cache/kafka-self-healing")
    })
}

/// The base image: a Debian root with what the runtime stage installs (so
/// its `apt-get install` has nothing to fetch), built once and cached.
fn base_image() {
    let root = cache_dir().join("image-root-bookworm");
    if !root.join("usr/bin/java").exists() {
        let partial = cache_dir().join(format!("image-root-bookworm.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(cache_dir()).unwrap();
        let out = run(Command::new("mmdebstrap")
            .args(["--mode=root", "--variant=minbase", "--quiet"])
            .arg("--include=ca-certificates,openssh-client,openjdk-17-jre-headless")
            .arg("bookworm")
            .arg(&partial)
            .arg("http://deb.debian.org/debian"));
        assert!(out.status.success(), "mmdebstrap (testing/setup.sh installs it) failed: {}", stderr(&out));
        if std::fs::rename(&partial, &root).is_err() {
            let _ = std::fs::remove_dir_all(&partial);
        }
    }
    if run(Command::new("podman").args(["image", "exists", BASE])).status.success() {
        return;
    }
    let import = format!("tar -C {} -c . | podman import - {BASE}", root.display());
    let out = run(Command::new("bash").arg("-c").arg(&import));
    assert!(out.status.success(), "podman import failed: {}", stderr(&out));
}

/// What the test created in buildah's store, removed however the test ends.
struct Built {
    image: String,
    container: Option<String>,
    daemon: Option<Child>,
}

impl Drop for Built {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            // SAFETY: plain syscall; the pid is our child's.
            unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && d.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = d.kill();
            let _ = d.wait();
        }
        if let Some(c) = self.container.take() {
            let _ = Command::new("buildah").args(["rm", &c]).output();
        }
        let _ = Command::new("buildah").args(["rmi", "--force", &self.image]).output();
    }
}

fn http_get(port: u16, path: &str) -> Option<u16> {
    reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .timeout(Duration::from_secs(2))
        .send()
        .ok()
        .map(|r| r.status().as_u16())
}

fn audit(dir: &Path) -> Vec<Value> {
    crate::support::audit_log(dir)
}

#[test]
fn the_image_built_with_buildah_runs_as_its_entrypoint_says_and_repairs_a_killed_broker() {
    let _lock = cluster_lock();
    // The host's build, packed by `--target prebuilt`: the binary of the
    // profile testing/package.sh packed (./test.sh: the debug build the tests
    // use, KSH_PACKAGE_PROFILE=dev; else the release one), testing/setup.sh
    // the bridge jar.
    let binary = match std::env::var("KSH_PACKAGE_PROFILE").as_deref() {
        Ok("dev") => "target/debug/kafka-self-healing",
        _ => "target/release/kafka-self-healing",
    };
    for artifact in [binary, "target/jmx-bridge.jar"] {
        assert!(repo().join(artifact).is_file(), "{artifact} is missing: run testing/package.sh and testing/setup.sh");
    }
    base_image();
    let image = format!("localhost/kafka-self-healing:it-{}", std::process::id());
    let mut built = Built { image: image.clone(), container: None, daemon: None };
    let out = run(Command::new("buildah")
        .current_dir(repo())
        .args(["bud", "--isolation", "chroot", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"])
        .args(["--format", "docker", "--layers=false", "--target", "prebuilt"])
        .args(["--build-arg", &format!("BASE_IMAGE={BASE}"), "--build-arg", &format!("PREBUILT={binary}")])
        .args(["-t", &image, "-f", "Dockerfile", "."]));
    assert!(out.status.success(), "buildah bud failed: {}", stderr(&out));

    // What the Dockerfile's `docker run` line relies on.
    let out = run(Command::new("buildah").args(["inspect", "--type", "image", &image]));
    let inspect: Value = serde_json::from_slice(&out.stdout).expect("buildah inspect prints JSON");
    let config = &inspect["Docker"]["config"];
    assert_eq!(config["Entrypoint"], serde_json::json!(["/usr/bin/kafka-self-healing"]), "{config:#}");
    assert_eq!(config["Cmd"], serde_json::json!(["run", "--config", "/etc/kafka-self-healing/config.yaml"]));
    assert_eq!(config["User"], "kafka-healing");
    assert!(config["ExposedPorts"].get("8080/tcp").is_some(), "{config:#}");
    assert!(config["Volumes"].get("/var/lib/kafka-self-healing").is_some(), "{config:#}");
    assert_eq!(config["StopSignal"], "SIGTERM");
    let health: Vec<String> = config["Healthcheck"]["Test"]
        .as_array()
        .expect("a HEALTHCHECK")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(health[0], "CMD", "{health:?}");

    // Run it against the loopback bed, as the image says: its user, its
    // entrypoint and command, the configuration at the documented path.
    let mut cluster = Cluster::start(Spec { zookeepers: 1, brokers: 3, ..Spec::zookeeper() }).unwrap();
    let hook = Webhook::start(cluster.dir());
    let dir = tempfile::tempdir().unwrap();
    let (etc, out_dir) = (dir.path().join("etc"), dir.path().join("out"));
    for d in [&etc, &out_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    // The container's user (uid 999) writes the logs.
    run(Command::new("chmod").args(["0777"]).arg(&out_dir));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config_text = format!(
        "{}monitoring:\n  interval_seconds: 2\n  timeout_seconds: 2\nrecovery:\n  actions: [http]\n  \
         http: {{url: \"http://127.0.0.1:{}/restart/{{node_id}}\"}}\n\
         logging:\n  file: /out/application.log\n  format: json\n  audit: {{file: /out/audit.log}}\n\
         system:\n  state_dir: /var/lib/kafka-self-healing\n  metrics: {{port: {port}, bind_address: 127.0.0.1}}\n",
        cluster_section("image", &[("", &cluster)]),
        hook.port
    );
    std::fs::write(etc.join("config.yaml"), config_text).unwrap();
    let out = run(Command::new("buildah").args(["from", &image]));
    assert!(out.status.success(), "buildah from: {}", stderr(&out));
    let container = stdout(&out).trim().to_string();
    built.container = Some(container.clone());
    let mut argv: Vec<String> = Vec::new();
    for key in ["Entrypoint", "Cmd"] {
        argv.extend(config[key].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()));
    }
    let daemon = Command::new("buildah")
        .args(["run", "--isolation", "chroot", "--user", config["User"].as_str().unwrap()])
        // No volume over the image's VOLUME: buildah 1.28's chroot isolation
        // sometimes sends its writes elsewhere (seen here, not every run), so the
        // state stays in the container; the VOLUME itself is checked above.
        .arg("-v")
        .arg(format!("{}:/out", out_dir.display()))
        .arg("-v")
        .arg(format!("{}:/etc/kafka-self-healing:ro", etc.display()))
        .arg(&container)
        .arg("--")
        .args(&argv)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("buildah run starts");
    built.daemon = Some(daemon);
    let started = Instant::now();
    while http_get(port, "/ready") != Some(200) {
        assert!(started.elapsed() < Duration::from_secs(60), "the daemon in the image never became ready");
        std::thread::sleep(Duration::from_millis(250));
    }
    // The image's own health check, run inside it, says the daemon is alive
    // (on this test's port: the image's documented 8080 may be taken here).
    let check: Vec<String> = health[1..].iter().map(|a| a.replace("/8080", &format!("/{port}"))).collect();
    assert!(check.iter().any(|a| a.contains(&format!("/dev/tcp/127.0.0.1/{port}"))), "{health:?}");
    let out = run(Command::new("buildah").args(["run", "--isolation", "chroot", &container, "--"]).args(&check));
    assert!(out.status.success(), "the HEALTHCHECK fails on a healthy daemon: {}", stderr(&out));

    cluster.kill("broker-2").unwrap();
    let started = Instant::now();
    let recovered = loop {
        if let Some(r) = audit(&out_dir).into_iter().find(|r| r["event"] == "recovered" && r["node"] == "broker-2") {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "broker-2 was not repaired by the daemon in the image; audit: {:#?}",
            audit(&out_dir)
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(recovered["restarted_by"], "kafka-self-healing", "{recovered:#}");
    let calls = hook.calls.lock().unwrap().clone();
    assert!(calls.iter().any(|(path, _, _)| path == "/restart/broker-2"), "{calls:#?}");

    // SIGTERM stops it (the image's STOPSIGNAL): the port closes.
    drop(built);
    let started = Instant::now();
    while http_get(port, "/health").is_some() {
        assert!(started.elapsed() < Duration::from_secs(30), "the daemon in the image outlived its container");
        std::thread::sleep(Duration::from_millis(250));
    }
}
