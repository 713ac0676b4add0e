//! Operating the daemon: its HTTP server (metrics scraped by a real
//! Prometheus and checked by promtool, health, readiness, the API and its
//! token, the status page in a real Chromium) and the `status` command, on a
//! real cluster.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kafka_testbed::{Cluster, Daemon, Spec, cluster_section, free_port};
use serde_json::Value;

use crate::support::{bin, cluster_lock, run, stdout, write_temp};

use crate::support::TESTBED;
const TOKEN: &str = "api-token-4f1c9e7b2d";

/// A child process killed when the test ends, however it ends.
pub(crate) struct Guard(pub(crate) Child);

/// `kafka-self-healing run --config CONFIG`, killed when the guard goes.
pub(crate) fn spawn_daemon(config: &Path) -> Guard {
    Guard(bin().args(["run", "--config"]).arg(config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap())
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

/// `(status, body)` of a request; `token` as a bearer token.
fn call(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
    let c = client();
    let mut req = match method {
        "GET" => c.get(url),
        "POST" => c.post(url),
        "DELETE" => c.delete(url),
        other => panic!("method {other}"),
    };
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req.header("Content-Type", "application/json").body(b.to_string());
    }
    // Not answering (yet, or any more) is status 0, for the polling loops.
    let r = match req.send() {
        Ok(r) => r,
        Err(e) => return (0, format!("{method} {url}: {e}")),
    };
    let code = r.status().as_u16();
    (code, r.text().unwrap_or_default())
}

fn json(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
    let (code, text) = call(method, url, token, body);
    (code, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {url}: not JSON ({e}): {text}")))
}

use crate::support::wait_until;

fn node<'a>(status: &'a Value, id: &str) -> &'a Value {
    status["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap_or_else(|| panic!("{id} in {status}"))
}

/// Starts Debian's real Prometheus scraping `target` every second.
fn prometheus(dir: &Path, target: &str) -> (Guard, String) {
    let port = free_port();
    let config = write_temp(
        dir,
        "prometheus.yml",
        &format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: kafka-self-healing\n    static_configs: [{{targets: ['{target}']}}]\n"
        ),
    );
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .expect("Debian's prometheus is installed (testing/setup.sh installs it)");
    (Guard(child), format!("http://127.0.0.1:{port}"))
}

/// The value of `query` in Prometheus, when it has exactly one sample.
fn prom_value(prom: &str, query: &str) -> Option<f64> {
    let url =
        format!("{prom}/api/v1/query?query={}", query.replace('{', "%7B").replace('}', "%7D").replace('"', "%22"));
    let (code, text) = client().get(&url).send().ok().map(|r| (r.status().as_u16(), r.text().unwrap_or_default()))?;
    if code != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&text).ok()?;
    let result = v["data"]["result"].as_array()?;
    if result.len() != 1 {
        return None;
    }
    result[0]["value"][1].as_str()?.parse().ok()
}

/// Renders `url` in headless Chromium: the DOM after its scripts ran, and a screenshot.
fn chromium(url: &str, screenshot: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let common = |c: &mut Command| {
        c.args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--window-size=1280,900", "--virtual-time-budget=5000"]);
    };
    let mut dom = Command::new("chromium");
    common(&mut dom);
    dom.args(["--dump-dom", url]).stderr(Stdio::null());
    let out = dom.output().expect("Debian's chromium is installed (testing/setup.sh installs it)");
    assert!(out.status.success(), "chromium --dump-dom failed");
    let mut shot = Command::new("chromium");
    common(&mut shot);
    shot.arg(format!("--screenshot={}", screenshot.display())).arg(url).stdout(Stdio::null()).stderr(Stdio::null());
    assert!(shot.status().unwrap().success(), "chromium --screenshot failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Pixels of exactly `rgb` in a PNG.
fn pixels_of(png_path: &Path, rgb: [u8; 3]) -> (usize, (u32, u32)) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png_path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let count = buf[..info.buffer_size()].chunks(channels).filter(|p| p[..3] == rgb).count();
    (count, (info.width, info.height))
}

fn config(cluster: &Cluster, dir: &Path, port: u16, scripts: &Path) -> PathBuf {
    let token_file = write_temp(dir, "api-token", &format!("{TOKEN}\n"));
    let text = format!(
        "{}monitoring:\n  interval_seconds: 1\n  timeout_seconds: 2\n\
         recovery:\n  actions: [script]\n  max_attempts: 1\n  initial_delay_seconds: 1\n  script: {{script_directory: {}}}\n\
         logging:\n  file: {}\n  format: json\n  audit: {{file: {}}}\n\
         system:\n  state_dir: {}\n  metrics: {{port: {port}, bind_address: 127.0.0.1}}\n  api: {{token_file: {}}}\n",
        cluster_section("api-test", &[("", cluster)]),
        scripts.display(),
        dir.join("application.log").display(),
        dir.join("audit.log").display(),
        dir.join("state").display(),
        token_file.display(),
    );
    write_temp(dir, "config.yaml", &text)
}

#[test]
fn http_api_metrics_and_status_page_tell_the_truth_about_a_real_cluster() {
    let _lock = cluster_lock();
    let cluster = Cluster::start(Spec { zookeepers: 1, brokers: 2, ..Spec::zookeeper() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let scripts = d.join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    let restart = scripts.join("default.sh");
    // Refuses until the test says the cause is fixed (the file `allowed` exists).
    let allowed = d.join("allowed");
    std::fs::write(
        &restart,
        format!(
            "#!/bin/sh\n[ -f {} ] || {{ echo 'refused: disk still broken' >&2; exit 1; }}\nexec {TESTBED} start \"$KAFKA_NODE_ID\" --dir {}\n",
            allowed.display(),
            cluster.dir().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&restart, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = config(&cluster, d, port, &scripts);
    let mut daemon =
        Daemon::start(Path::new(env!("CARGO_BIN_EXE_kafka-self-healing")), &config, d.join("application.log"), &[])
            .unwrap();

    // Ready once every node was probed; healthy while its loops tick.
    wait_until("/ready", Duration::from_secs(30), || {
        (call("GET", &format!("{base}/ready"), None, None).0 == 200).then_some(())
    });
    let (code, health) = json("GET", &format!("{base}/health"), None, None);
    assert_eq!((code, health["status"].as_str()), (200, Some("ok")), "{health}");

    // A real Prometheus scrapes it from the start.
    let (_prom_guard, prom) = prometheus(d, &format!("127.0.0.1:{port}"));

    // /metrics: the runbook's names, and promtool finds nothing wrong.
    let (code, metrics) = call("GET", &format!("{base}/metrics"), None, None);
    assert_eq!(code, 200);
    for name in [
        "kafka_self_healing_monitoring_latency_seconds_bucket{",
        "# TYPE kafka_self_healing_recovery_attempts_total counter",
        "# TYPE kafka_self_healing_recovery_success_total counter",
        "# TYPE kafka_self_healing_notifications_sent_total counter",
        "kafka_self_healing_node_up{cluster=\"api-test\",node=\"broker-1\",role=\"kafka_broker\"} 1",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics:\n{metrics}");
    }
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus) is installed");
    std::io::Write::write_all(promtool.stdin.as_mut().unwrap(), metrics.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The API's writes need the token; a bad body says what is wrong.
    let pause = format!("{base}/api/v1/pause");
    assert_eq!(call("POST", &pause, None, Some("{}")).0, 401);
    assert_eq!(call("POST", &pause, Some("wrong"), Some("{}")).0, 401);
    let (code, bad) = json("POST", &pause, Some(TOKEN), Some("{\"for\": \"ten minutes\"}"));
    assert_eq!(code, 400);
    assert!(bad["error"].as_str().unwrap().contains("not a duration"), "{bad}");
    let (code, bad) = json("POST", &pause, Some(TOKEN), Some("{\"until\": \"10m\"}"));
    assert_eq!(code, 400);
    assert!(bad["error"].as_str().unwrap().contains("unknown field `until`"), "{bad}");
    let (code, paused) = json("POST", &pause, Some(TOKEN), Some("{\"for\": \"10m\"}"));
    assert_eq!(code, 200, "{paused}");
    wait_until("pause seen by the engine", Duration::from_secs(5), || {
        let (_, s) = json("GET", &format!("{base}/api/v1/status"), None, None);
        s["daemon"]["paused_until"].is_string().then_some(())
    });

    // A crash while paused: the operator holds recovery off, so broker-2 is
    // shown in maintenance, with no incident and no action.
    let mut cluster = cluster;
    cluster.kill("broker-2").unwrap();
    let status = wait_until("broker-2 failed", Duration::from_secs(15), || {
        let (_, s) = json("GET", &format!("{base}/api/v1/status"), None, None);
        (node(&s, "broker-2")["state"] == "failed").then_some(s)
    });
    assert_eq!(node(&status, "broker-2")["shown"], "maintenance", "{status}");
    assert!(node(&status, "broker-2")["reason"].as_str().unwrap().starts_with("recovery paused until"));
    assert_eq!(status["cluster"]["status"], "failed", "{status}");
    assert_eq!(node(&status, "broker-1")["shown"], "healthy");
    assert_eq!(node(&status, "broker-2")["cause"], "connection_refused");
    let out = run(bin().args(["status", "--config"]).arg(&config));
    assert!(stdout(&out).contains("Recovery PAUSED"), "{}", stdout(&out));

    // Resumed: an incident; its one attempt fails (the script refuses) and it is escalated.
    let (code, _) = json("POST", &format!("{base}/api/v1/resume"), Some(TOKEN), None);
    assert_eq!(code, 200);
    let status = wait_until("broker-2 shown escalated", Duration::from_secs(30), || {
        let (_, s) = json("GET", &format!("{base}/api/v1/status"), None, None);
        (node(&s, "broker-2")["shown"] == "escalated").then_some(s)
    });
    assert_eq!(status["daemon"]["held"], serde_json::json!(["broker-2"]));
    let (code, one) = json("GET", &format!("{base}/api/v1/nodes/broker-2"), None, None);
    assert_eq!((code, one["node"]["state"].as_str()), (200, Some("failed")), "{one}");
    assert_eq!(one["incidents"][0]["state"], "escalated", "{one}");
    let (code, missing) = json("GET", &format!("{base}/api/v1/nodes/broker-9"), None, None);
    assert_eq!(code, 404);
    assert!(missing["error"].as_str().unwrap().contains("broker-1, broker-2, zk-1"), "{missing}");
    let (code, _) = json("GET", &format!("{base}/api/v1/incidents?since=soon"), None, None);
    assert_eq!(code, 400);

    // `status` prints the same truth and exits 2.
    let out = run(bin().args(["status", "--config"]).arg(&config));
    assert_eq!(out.status.code(), Some(2));
    let table = stdout(&out);
    assert!(table.contains("Cluster api-test: FAILED"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("broker-2") && l.contains("ESCALATED")), "{table}");
    let out = run(bin().args(["status", "--output", "json", "--url", &base]));
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(node(&parsed, "broker-2")["shown"], "escalated");
    let out = run(bin().args(["status", "--url", &format!("http://127.0.0.1:{}", free_port())]));
    assert_eq!(out.status.code(), Some(3));
    assert!(crate::support::stderr(&out).contains("the daemon does not answer"));

    // The status page, rendered by a real Chromium: broker-2's card is magenta
    // (escalated), the others green.
    let shot_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let shot = shot_dir.join("status-page.png");
    let dom = chromium(&format!("{base}/"), &shot);
    assert!(dom.contains("data-loaded=\"true\""), "the page's script did not run:\n{dom}");
    let card = dom.find("data-node=\"broker-2\"").map(|i| &dom[i..(i + 60).min(dom.len())]).unwrap_or("");
    assert!(card.contains("data-shown=\"escalated\""), "broker-2's card: {card}\n{dom}");
    assert!(dom.contains("kafka_broker broker-2 is down"), "cluster findings missing:\n{dom}");
    assert!(dom.contains("broker-2: escalated, held until healthy or reset"), "the daemon's facts:\n{dom}");
    let (magenta, size) = pixels_of(&shot, [0xad, 0x14, 0x57]);
    let (green, _) = pixels_of(&shot, [0x2e, 0x7d, 0x32]);
    assert_eq!(size, (1280, 900));
    // A card is about 230 × 180 pixels: one escalated card, two green ones.
    assert!(magenta > 20_000, "magenta pixels of the escalated card: {magenta} (screenshot {})", shot.display());
    assert!(green > 2 * 20_000, "green pixels of the healthy cards: {green} (screenshot {})", shot.display());
    // The last 24 hours as a picture: broker-2's escalated incident on its row
    // (purple); before the daemon started (minutes ago), each row is grey.
    let (code, svg) = call("GET", &format!("{base}/api/v1/history.svg"), None, None);
    assert_eq!(code, 200);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
    let drawn = svg.find("class=\"incident\" data-node=\"broker-2\"").map(|i| &svg[i..(i + 300).min(svg.len())]);
    assert!(drawn.is_some_and(|r| r.contains("fill=\"#8e24aa\"") && r.contains("escalated at")), "{svg}");
    assert!(dom.contains("<img id=\"history\""), "{dom}");
    let (purple, _) = pixels_of(&shot, [0x8e, 0x24, 0xaa]);
    let (unwatched, _) = pixels_of(&shot, [0xe0, 0xe0, 0xe0]);
    assert!(purple > 0, "the escalated incident is drawn (screenshot {})", shot.display());
    assert!(unwatched > 3 * 10_000, "a row per node: {unwatched} (screenshot {})", shot.display());
    // An hour's window: the watched (green) band is there too.
    let (_, hour) = call("GET", &format!("{base}/api/v1/history.svg?hours=1"), None, None);
    assert!(hour.contains("fill=\"#66bb6a\"") && hour.contains("broker-2"), "{hour}");

    // Maintenance through the API is shown as such, and ends.
    let m = format!("{base}/api/v1/maintenance/broker-2");
    assert_eq!(call("POST", &m, None, Some("{}")).0, 401);
    let (code, started) = json("POST", &m, Some(TOKEN), Some("{\"for\": \"5m\", \"reason\": \"disk swap\"}"));
    assert_eq!(code, 200, "{started}");
    wait_until("broker-2 shown in maintenance", Duration::from_secs(5), || {
        let (_, s) = json("GET", &format!("{base}/api/v1/status"), None, None);
        (node(&s, "broker-2")["shown"] == "maintenance").then_some(())
    });
    assert_eq!(json("DELETE", &m, Some(TOKEN), None).0, 200);

    // The cause is fixed; reset through the API: the restart script brings
    // broker-2 back, and the counters and Prometheus say so.
    let (_, incidents) = json("GET", &format!("{base}/api/v1/incidents?node=broker-2"), None, None);
    let escalated = incidents[0]["id"].as_str().unwrap().to_string();
    std::fs::write(&allowed, "").unwrap();
    let reset = format!("{base}/api/v1/incidents/{escalated}/reset");
    assert_eq!(call("POST", &reset, None, None).0, 401);
    let (code, answer) = json("POST", &reset, Some(TOKEN), None);
    assert_eq!((code, answer["node"].as_str()), (200, Some("broker-2")), "{answer}");
    wait_until("broker-2 healthy again", Duration::from_secs(90), || {
        let (_, s) = json("GET", &format!("{base}/api/v1/status"), None, None);
        (node(&s, "broker-2")["shown"] == "healthy").then_some(())
    });
    let (_, metrics) = call("GET", &format!("{base}/metrics"), None, None);
    let line = |name: &str| metrics.lines().find(|l| l.starts_with(name)).unwrap_or_default().to_string();
    assert!(
        line("kafka_self_healing_recovery_attempts_total{cluster=\"api-test\",node=\"broker-2\",action=\"script\"}")
            .ends_with(" 2"),
        "{metrics}"
    );
    assert!(
        line("kafka_self_healing_recovery_success_total{cluster=\"api-test\",node=\"broker-2\",action=\"script\"}")
            .ends_with(" 1"),
        "{metrics}"
    );
    assert!(line("kafka_self_healing_escalations_total{cluster=\"api-test\",node=\"broker-2\"}").ends_with(" 1"));
    assert!(
        line("kafka_self_healing_probe_errors_total{cluster=\"api-test\",node=\"broker-2\"")
            .ends_with(|c: char| c.is_ascii_digit())
    );
    wait_until("Prometheus scraped the attempts", Duration::from_secs(30), || {
        let up = prom_value(&prom, "up{job=\"kafka-self-healing\"}")?;
        let attempts = prom_value(&prom, "sum(kafka_self_healing_recovery_attempts_total{node=\"broker-2\"})")?;
        (up == 1.0 && attempts == 2.0).then_some(())
    });
    assert!(prom_value(&prom, "sum(kafka_self_healing_monitoring_latency_seconds_count)").unwrap_or(0.0) > 0.0);

    // The shipped Grafana dashboard queries only what /metrics exports, and every query runs in Prometheus.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::support::repo().join("dashboards/kafka-self-healing-dashboard.json")).unwrap(),
    )
    .unwrap();
    let families: Vec<&str> =
        metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split(' ').next()).collect();
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_string()))
        .collect();
    assert!(exprs.len() >= 15);
    for expr in &exprs {
        let mut rest = expr.as_str();
        while let Some(i) = rest.find("kafka_self_healing_") {
            let name: String = rest[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let family = ["_bucket", "_sum", "_count"].iter().fold(name.clone(), |n, s| {
                n.strip_suffix(s).filter(|f| families.contains(f)).map(str::to_string).unwrap_or(n)
            });
            assert!(
                families.contains(&family.as_str()),
                "the dashboard queries {name}, which /metrics does not export"
            );
            rest = &rest[i + name.len()..];
        }
        let query = expr.replace("$cluster", "api-test");
        let answer: Value = client()
            .get(format!("{prom}/api/v1/query"))
            .query(&[("query", query.as_str())])
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(answer["status"], "success", "Prometheus refuses the dashboard's query {expr}: {answer}");
    }

    // The incident is in the API, with its audit trail; the API's own actions are audited as `api`.
    let (_, incidents) = json("GET", &format!("{base}/api/v1/incidents?node=broker-2"), None, None);
    assert_eq!(incidents.as_array().unwrap().len(), 2, "the escalated incident and the one after the reset");
    let id = incidents[0]["id"].as_str().expect("broker-2's incident").to_string();
    let (code, one) = json("GET", &format!("{base}/api/v1/incidents/{id}"), None, None);
    assert_eq!(code, 200);
    assert!(one["audit"].as_array().unwrap().iter().any(|r| r["event"] == "recovered"), "{one}");
    let audit = crate::support::audit_log(d);
    assert!(audit.iter().any(|r| r["event"] == "operator_pause" && r["by"] == "api"));
    assert!(audit.iter().any(|r| r["event"] == "maintenance_started" && r["reason"] == "disk swap"));

    // The token is nowhere: logs, audit trail, state store, API answers.
    for file in ["application.log", "audit.log", "state/state.db"] {
        let bytes = std::fs::read(d.join(file)).unwrap();
        assert!(!bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()), "the API token is in {file}");
    }
    let (_, s) = call("GET", &format!("{base}/api/v1/status"), None, None);
    assert!(!s.contains(TOKEN));

    // SIGTERM: a clean stop.
    unsafe { libc::kill(daemon.pid() as i32, libc::SIGTERM) };
    let code = wait_until("the daemon exits", Duration::from_secs(20), || daemon.try_wait());
    assert_eq!(code, Some(0));
}

/// A daemon watching two fake nodes: `up` (a listener this test holds) and
/// `down` (a closed port), with a restart script that takes `script_seconds`.
fn lifecycle_config(dir: &Path, up: u16, http: u16, name: &str, script_seconds: u32) -> PathBuf {
    let scripts = dir.join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    let script = scripts.join("default.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho started >> {}\nsleep {script_seconds}\n", dir.join("script.log").display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let text = format!(
        "cluster:\n  name: {name}\n  kafka_brokers:\n    - {{node_id: up, host: 127.0.0.1, port: {up}, monitoring_methods: [socket, command]}}\n    \
         - {{node_id: down, host: 127.0.0.1, port: {}, monitoring_methods: [socket]}}\n\
         monitoring: {{interval_seconds: 1, timeout_seconds: 1, command: {{command: \"sleep 0.05\"}}}}\n\
         recovery:\n  actions: [script]\n  max_failed_fraction: 1.0\n  script: {{script_directory: {}, timeout: 120}}\n\
         notifications:\n  smtp: {{host: 127.0.0.1, port: {}, password: \"${{LIFECYCLE_SMTP_PASSWORD}}\", to_emails: [ops@example.com]}}\n\
         logging:\n  file: {}\n  format: json\n  audit: {{file: {}}}\n  performance: {{file: {}, slow_operation_threshold_ms: 1}}\n\
         system:\n  state_dir: {}\n  shutdown_timeout_seconds: 60\n  metrics: {{port: {http}, bind_address: 127.0.0.1}}\n  \
         self_monitoring: {{interval_seconds: 1}}\n",
        free_port(),
        scripts.display(),
        free_port(),
        dir.join("logs/application.log").display(),
        dir.join("logs/audit.log").display(),
        dir.join("logs/performance.log").display(),
        dir.join("state").display(),
    );
    write_temp(dir, "config.yaml", &text)
}

#[test]
fn reload_logs_and_signals_behave_like_a_service() {
    const SMTP_SECRET: &str = "smtp-secret-9d2e61";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = listener.local_addr().unwrap().port();
    let http = free_port();
    let base = format!("http://127.0.0.1:{http}");
    let config = lifecycle_config(d, up, http, "before-reload", 30);
    let mut child = Guard(
        bin()
            .args(["run", "--config"])
            .arg(&config)
            .env("LIFECYCLE_SMTP_PASSWORD", SMTP_SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id() as i32;
    let cluster_name = || {
        let (code, text) = call("GET", &format!("{base}/api/v1/status"), None, None);
        (code == 200)
            .then(|| serde_json::from_str::<Value>(&text).unwrap()["cluster"]["name"].as_str().unwrap().to_string())
    };
    wait_until("the daemon serves", Duration::from_secs(20), cluster_name);
    assert_eq!(cluster_name().as_deref(), Some("before-reload"));

    // SIGHUP with a valid file: the new configuration is in effect.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("name: before-reload", "name: after-reload")).unwrap();
    unsafe { libc::kill(pid, libc::SIGHUP) };
    wait_until("reloaded", Duration::from_secs(20), || (cluster_name()? == "after-reload").then_some(()));

    // SIGHUP with an invalid file: refused, with the reason; the daemon keeps the last good one.
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        good.replace("interval_seconds: 1, timeout_seconds: 1", "interval_seconds: 1, timeout_seconds: 1, bogus: 2"),
    )
    .unwrap();
    unsafe { libc::kill(pid, libc::SIGHUP) };
    let app_log = d.join("logs/application.log");
    wait_until("reload refused", Duration::from_secs(10), || {
        std::fs::read_to_string(&app_log).unwrap_or_default().contains("Configuration reload refused").then_some(())
    });
    let log = std::fs::read_to_string(&app_log).unwrap();
    assert!(log.contains("unknown key `bogus`"), "the refusal says why:\n{log}");
    assert_eq!(cluster_name().as_deref(), Some("after-reload"));
    std::fs::write(&config, &good).unwrap();

    // The runbook's greps work on the files at the configured paths.
    let script_log = d.join("script.log");
    wait_until("the restart script runs", Duration::from_secs(30), || script_log.exists().then_some(()));
    let perf = std::fs::read_to_string(d.join("logs/performance.log")).unwrap();
    assert!(perf.contains("response_time"), "performance.log has timings:\n{perf}");
    assert!(perf.contains("Self-monitoring sample"), "performance.log has resource samples");
    let log = std::fs::read_to_string(&app_log).unwrap();
    for needle in ["Node status", "Recovery", "slow"] {
        assert!(log.contains(needle), "application.log has `{needle}`:\n{log}");
    }
    let audit = std::fs::read_to_string(d.join("logs/audit.log")).unwrap();
    assert!(audit.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()), "audit.log is JSON lines");
    assert!(audit.contains("\"event\":\"attempt_started\""), "{audit}");

    // SIGTERM while the action runs: the daemon waits for it (and keeps answering)…
    unsafe { libc::kill(pid, libc::SIGTERM) };
    std::thread::sleep(Duration::from_secs(1));
    assert!(child.0.try_wait().unwrap().is_none(), "the daemon waits for the running action");
    // …and a second signal exits at once.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let code = wait_until("exit on the second signal", Duration::from_secs(5), || child.0.try_wait().unwrap());
    assert_eq!(code.code(), Some(1));

    // No secret in any log file.
    for f in ["logs/application.log", "logs/audit.log", "logs/performance.log"] {
        let text = std::fs::read_to_string(d.join(f)).unwrap();
        assert!(!text.contains(SMTP_SECRET), "the SMTP password is in {f}");
    }

    // The report reads the same store: the `down` node's incident and its downtime.
    let out = run(bin()
        .args(["report", "--since", "1h", "--output", "json", "--config"])
        .arg(&config)
        .env("LIFECYCLE_SMTP_PASSWORD", SMTP_SECRET));
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["incidents"].as_u64().unwrap() >= 1, "{report}");
    let figures = |n: &str| report["nodes"].as_array().unwrap().iter().find(|f| f["node"] == n).unwrap().clone();
    assert_eq!(figures("up")["availability_percent"], 100.0);
    assert!(figures("down")["availability_percent"].as_f64().unwrap() < 100.0);
    assert!(report["attempts"].as_u64().unwrap() >= 1);
    let out =
        run(bin().args(["report", "--month", "--config"]).arg(&config).env("LIFECYCLE_SMTP_PASSWORD", SMTP_SECRET));
    let md = stdout(&out);
    assert!(
        md.starts_with("# kafka-self-healing report: after-reload") && md.contains("| down | kafka_broker | 1 |"),
        "{md}"
    );
    // The same as one self-contained HTML page with charts, rendered by Chromium.
    let out = run(bin()
        .args(["report", "--month", "--output", "html", "--config"])
        .arg(&config)
        .env("LIFECYCLE_SMTP_PASSWORD", SMTP_SECRET));
    assert_eq!(out.status.code(), Some(0));
    let page = stdout(&out);
    for part in
        ["<svg id=\"availability\"", "id=\"incidents\"", "<svg id=\"days\"", "<svg id=\"notifications\"", "s down)"]
    {
        assert!(page.contains(part), "{part}: {page}");
    }
    assert!(!page.contains("src=") && !page.contains("href=") && !page.contains("<script"), "self-contained: {page}");
    assert!(page.contains("<title>down: ") && !page.contains(SMTP_SECRET), "{page}");
    let file = d.join("report.html");
    std::fs::write(&file, &page).unwrap();
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    let dom = chromium(&format!("file://{}", file.display()), &shot);
    assert!(dom.contains("kafka-self-healing report: after-reload"), "{dom}");
    let (green, _) = pixels_of(&shot, [0x2e, 0x7d, 0x32]);
    assert!(green > 2_000, "the availability bars are drawn: {green} (screenshot {})", shot.display());
    drop(listener);
}

#[test]
fn a_busy_port_is_a_clear_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = lifecycle_config(dir.path(), free_port(), port, "busy", 1);
    let out = run(bin().args(["run", "--config"]).arg(&config).env("LIFECYCLE_SMTP_PASSWORD", "x"));
    assert_eq!(out.status.code(), Some(1));
    let log = std::fs::read_to_string(dir.path().join("logs/application.log")).unwrap();
    assert!(
        log.contains(&format!("cannot listen on 127.0.0.1:{port}")) && log.contains("system.metrics.port"),
        "{log}"
    );
}

/// The shipped wrapper script `name`, run with this build's binary and `config`.
fn wrapper(name: &str, config: &Path) -> Command {
    let mut c = Command::new(crate::support::repo().join("scripts").join(name));
    c.env("KAFKA_SELF_HEALING_BIN", env!("CARGO_BIN_EXE_kafka-self-healing")).env("KAFKA_SELF_HEALING_CONFIG", config);
    c
}

#[test]
fn a_manual_alert_is_never_lost_and_the_wrappers_work() {
    let receiver = crate::notify::Receiver::start();
    receiver.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = listener.local_addr().unwrap().port();
    let http = free_port();
    let config = write_temp(
        d,
        "config.yaml",
        &format!(
            "cluster:\n  name: alerts\n  kafka_brokers: [{{node_id: up, host: 127.0.0.1, port: {up}, monitoring_methods: [socket]}}]\n\
             notifications:\n  webhook: {{url: \"http://127.0.0.1:{}/hook\"}}\n  delivery: {{initial_backoff_seconds: 1}}\n\
             logging:\n  file: {}\n  audit: {{file: {}}}\n\
             system:\n  state_dir: {}\n  metrics: {{port: {http}, bind_address: 127.0.0.1}}\n",
            receiver.port,
            d.join("application.log").display(),
            d.join("audit.log").display(),
            d.join("state").display(),
        ),
    );
    // No daemon, the webhook down: the message stays in the outbox.
    let out = run(wrapper("send_manual_alert.sh", &config).arg("Disk swap on broker-2 tonight"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("webhook: NOT delivered yet"), "{}", stdout(&out));
    let out = run(&mut wrapper("send_manual_alert.sh", &config));
    assert_eq!(out.status.code(), Some(2), "usage without a message");

    // The daemon starts with the webhook back: it delivers the kept message.
    receiver.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let _daemon = Guard(
        bin().args(["run", "--config"]).arg(&config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap(),
    );
    wait_until("the kept alert is delivered", Duration::from_secs(30), || {
        (!receiver.accepted().is_empty()).then_some(())
    });
    let first = receiver.json();
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(
        first[0]["subject"].as_str().unwrap().starts_with("[MANUAL] alerts: Disk swap on broker-2 tonight"),
        "{first:?}"
    );

    // With the daemon running, the alert goes through it, at once.
    wait_until("the daemon serves", Duration::from_secs(20), || {
        (call("GET", &format!("http://127.0.0.1:{http}/health"), None, None).0 == 200).then_some(())
    });
    let out = run(bin().args(["alert", "Rolling restart starts now", "--severity", "info", "--config"]).arg(&config));
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("webhook: delivered"));
    let all = receiver.json();
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1]["severity"], "info");
    let audit = crate::support::audit_log(d);
    let alerts: Vec<&Value> = audit.iter().filter(|r| r["event"] == "manual_alert").collect();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[1]["via_daemon"], true);

    // The other wrappers: one round of probes, and the daemon's status.
    let out = run(&mut wrapper("manual_health_check.sh", &config));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = run(wrapper("cluster_status.sh", &config).args(["--output", "json"]));
    assert_eq!(out.status.code(), Some(0));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["cluster"]["name"], "alerts");
    drop(listener);
}
