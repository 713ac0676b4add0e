//! Notifications from a real incident (a killed broker, restarted by the
//! daemon) to every channel: a real SMTP server (aiosmtpd, with AUTH), a real
//! Alertmanager, a command, and local HTTP receivers standing in for the SaaS
//! ones (Slack, PagerDuty, a signed webhook). The webhook is down at first:
//! its notifications wait in the outbox, across a daemon restart, and arrive
//! once it is back — each exactly once.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_testbed::{Cluster, Spec, cluster_section};
use serde_json::Value;

use crate::support::{audit_log as audit, bin, cluster_lock, write_temp};

use crate::support::TESTBED;

/// One HTTP request as a receiver saw it.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub answered: u16,
}

/// A local HTTP receiver that records every request; answers 503 while `down`.
pub(crate) struct Receiver {
    pub port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    pub down: Arc<AtomicBool>,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<Request>>> = Default::default();
        let down = Arc::new(AtomicBool::new(false));
        let (seen, is_down) = (requests.clone(), down.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut headers = HashMap::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap_or(0);
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(": ") {
                        headers.insert(k.to_ascii_lowercase(), v.to_string());
                    }
                }
                let length = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let answered = if is_down.load(Ordering::SeqCst) { 503 } else { 202 };
                seen.lock().unwrap().push(Request { path, headers, body, answered });
                let mut stream = stream;
                let _ = write!(stream, "HTTP/1.1 {answered} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}");
            }
        });
        Receiver { port, requests, down }
    }

    pub(crate) fn accepted(&self) -> Vec<Request> {
        self.requests.lock().unwrap().iter().filter(|r| r.answered == 202).cloned().collect()
    }

    pub(crate) fn json(&self) -> Vec<Value> {
        self.accepted().iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect()
    }
}

/// A child process killed on drop.
pub(crate) struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

use crate::support::free_port;

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// A real SMTP server (`testing/smtp-server.py`, aiosmtpd) on a free port,
/// writing what it accepts to `out`; `args` are its options. Killed on drop.
fn smtp_server(args: &[&str], out: &Path) -> (Process, u16) {
    let port = free_port();
    let mut child = Command::new("/usr/bin/python3")
        .arg(crate::support::repo().join("testing/smtp-server.py"))
        .args(["--port", &port.to_string()])
        .args(args)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3-aiosmtpd is installed by testing/setup.sh");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "ready", "the SMTP server did not start");
    (Process(child), port)
}

/// A real Alertmanager on a free port with its files in `dir`, once it is ready. Killed on drop.
pub(crate) fn alertmanager(dir: &Path) -> (Process, u16) {
    let port = free_port();
    write_temp(dir, "alertmanager.yml", "route: {receiver: devnull, group_wait: 1s}\nreceivers: [{name: devnull}]\n");
    let am = Process(
        Command::new("/usr/bin/prometheus-alertmanager")
            .arg(format!("--config.file={}", dir.join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager is installed by testing/setup.sh"),
    );
    wait_until("alertmanager ready", Duration::from_secs(30), || http_get(port, "/-/ready").is_some());
    (am, port)
}

fn start_daemon(config: &Path) -> Process {
    Process(bin().args(["run", "--config"]).arg(config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap())
}

#[test]
fn an_incident_reaches_every_channel_once_even_through_an_outage_and_a_restart() {
    let _lock = cluster_lock();
    let mut cluster = Cluster::start(Spec { zookeepers: 1, brokers: 2, ..Spec::zookeeper() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Real SMTP server with AUTH; real Alertmanager.
    let mail = d.join("mail.jsonl");
    let (_smtp, smtp_port) = smtp_server(&["--user", "alerts", "--password", "smtp-secret-pw"], &mail);
    let (_am, am_port) = alertmanager(d);

    let (slack, teams, pagerduty, webhook) =
        (Receiver::start(), Receiver::start(), Receiver::start(), Receiver::start());
    webhook.down.store(true, Ordering::SeqCst);
    let command_out = d.join("command.jsonl");
    let notify_script = d.join("notify.sh");
    std::fs::write(
        &notify_script,
        format!("#!/bin/sh\ncat >> {}\necho >> {}\n", command_out.display(), command_out.display()),
    )
    .unwrap();
    std::fs::set_permissions(&notify_script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let scripts = d.join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    let start = scripts.join("default.sh");
    std::fs::write(
        &start,
        format!("#!/bin/sh\nexec {TESTBED} start \"$KAFKA_NODE_ID\" --dir {}\n", cluster.dir().display()),
    )
    .unwrap();
    std::fs::set_permissions(&start, std::fs::Permissions::from_mode(0o755)).unwrap();

    let config = write_temp(
        d,
        "config.yaml",
        &format!(
            "{nodes}monitoring:\n  interval_seconds: 2\n  timeout_seconds: 2\n\
             recovery:\n  actions: [script]\n  script: {{script_directory: {scripts}}}\n\
             notifications:\n\
             \x20 triggers: {{on_failure_detected: true, on_recovery_success: true}}\n\
             \x20 delivery: {{initial_backoff_seconds: 0.2, max_backoff_seconds: 1}}\n\
             \x20 smtp: {{host: 127.0.0.1, port: {smtp_port}, use_tls: false, username: alerts, password: \"${{SMTP_PASSWORD}}\",\n\
             \x20        from_email: kafka@example.com, to_emails: [ops@example.com], cc_emails: [lead@example.com]}}\n\
             \x20 slack: {{webhook_url: \"http://127.0.0.1:{slack}/services/T000/B000/slack-token-secret\"}}\n\
             \x20 teams: {{webhook_url: \"http://127.0.0.1:{teams}/webhookb2/teams-token-secret\"}}\n\
             \x20 pagerduty: {{routing_key: pd-routing-key-secret, events_url: \"http://127.0.0.1:{pd}/v2/enqueue\"}}\n\
             \x20 webhook: {{url: \"http://127.0.0.1:{hook}/hook\", secret: hmac-secret-value, routing: {{node_types: [kafka_broker]}}}}\n\
             \x20 alertmanager: {{url: \"http://127.0.0.1:{am_port}\", labels: {{team: kafka}}}}\n\
             \x20 command: {{command: {cmd}}}\n\
             logging:\n  file: {log}\n  format: json\n  audit: {{file: {audit}}}\nsystem:\n  state_dir: {state}\n{http}",
            nodes = cluster_section("notify", &[("", &cluster)]),
            scripts = scripts.display(),
            slack = slack.port,
            teams = teams.port,
            pd = pagerduty.port,
            hook = webhook.port,
            cmd = notify_script.display(),
            log = d.join("application.log").display(),
            http = crate::support::http_line(),
            audit = d.join("audit.log").display(),
            state = d.join("state").display(),
        ),
    );
    // SAFETY: set before the daemon is spawned; this test does not read it concurrently.
    unsafe { std::env::set_var("SMTP_PASSWORD", "smtp-secret-pw") };
    let daemon = start_daemon(&config);
    std::thread::sleep(Duration::from_secs(3));

    cluster.kill("broker-1").unwrap();
    // The webhook is down: its first notification is tried and waits in the outbox.
    wait_until("a failed webhook delivery", Duration::from_secs(30), || {
        webhook.requests.lock().unwrap().iter().any(|r| r.answered == 503)
    });
    wait_until("broker-1 recovered", Duration::from_secs(120), || {
        audit(d).iter().any(|r| r["event"] == "recovered" && r["node"] == "broker-1")
    });
    // Every other channel has both notifications (none is in flight when the daemon dies).
    wait_until("the six other channels delivered both", Duration::from_secs(60), || {
        audit(d).iter().filter(|r| r["event"] == "notification_delivered").count() == 12
    });
    drop(daemon); // SIGKILL, with the webhook's two notifications still queued
    webhook.down.store(false, Ordering::SeqCst);
    let _daemon = start_daemon(&config);
    wait_until("every channel got both notifications", Duration::from_secs(60), || {
        slack.accepted().len() >= 2
            && teams.accepted().len() >= 2
            && pagerduty.accepted().len() >= 2
            && webhook.accepted().len() >= 2
            && std::fs::read_to_string(&mail).unwrap_or_default().lines().count() >= 2
            && std::fs::read_to_string(&command_out).unwrap_or_default().lines().filter(|l| !l.is_empty()).count() >= 2
    });
    std::thread::sleep(Duration::from_secs(2));

    // Exactly once each, in order: detected, then recovered.
    let hooks = webhook.json();
    assert_eq!(hooks.len(), 2, "{hooks:#?}");
    assert_eq!(hooks[0]["trigger"], "on_failure_detected");
    assert_eq!(hooks[1]["trigger"], "on_recovery_success");
    assert_eq!(hooks[0]["incident_id"], hooks[1]["incident_id"]);
    let incident = hooks[0]["incident_id"].as_str().unwrap().to_string();
    for r in webhook.accepted() {
        let signature = r.headers.get("x-signature-256").expect("signed");
        let expected = kafka_self_healing::notify::channels::sign("hmac-secret-value", &r.body);
        assert_eq!(signature, &format!("sha256={expected}"));
    }
    let slack_posts = slack.json();
    assert_eq!(slack_posts.len(), 2);
    assert!(slack_posts[0]["text"].as_str().unwrap().contains("broker-1"), "{slack_posts:#?}");
    assert!(slack.accepted()[0].path.ends_with("slack-token-secret"));
    let cards = teams.json();
    assert_eq!(cards.len(), 2, "{cards:#?}");
    assert_eq!(cards[0]["@type"], "MessageCard");
    assert!(cards[1]["title"].as_str().unwrap().contains("[RESOLVED] broker-1"), "{cards:#?}");
    let pd = pagerduty.json();
    assert_eq!(pd.len(), 2, "{pd:#?}");
    assert_eq!((pd[0]["event_action"].as_str(), pd[1]["event_action"].as_str()), (Some("trigger"), Some("resolve")));
    assert!(pd.iter().all(|e| e["dedup_key"] == incident && e["routing_key"] == "pd-routing-key-secret"));
    let commands: Vec<Value> = std::fs::read_to_string(&command_out)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(commands.len(), 2);
    let mails: Vec<Value> =
        std::fs::read_to_string(&mail).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(mails.len(), 2, "{mails:#?}");
    assert!(mails.iter().all(|m| m["authenticated"] == true));
    let thread = format!("<{incident}@kafka-self-healing>");
    for m in &mails {
        let data = m["data"].as_str().unwrap();
        assert!(data.contains(&format!("In-Reply-To: {thread}")), "{data}");
        assert!(m["to"].as_array().unwrap().iter().any(|t| t == "lead@example.com"), "cc receives it: {m:#}");
    }
    assert!(mails[1]["data"].as_str().unwrap().contains("Subject: [RESOLVED] broker-1 Recovered"));

    // Alertmanager holds the incident's alert, resolved on recovery.
    wait_until("both notifications delivered to Alertmanager", Duration::from_secs(30), || {
        audit(d).iter().filter(|r| r["event"] == "notification_delivered" && r["channel"] == "alertmanager").count()
            == 2
    });
    let alerts: Value = serde_json::from_str(
        &http_get(am_port, "/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true").unwrap(),
    )
    .unwrap();
    let ours: Vec<&Value> =
        alerts.as_array().unwrap().iter().filter(|a| a["labels"]["incident_id"] == incident.as_str()).collect();
    assert!(ours.is_empty(), "the alert is resolved, not active: {alerts:#}");
    let delivered: Vec<Value> = audit(d)
        .into_iter()
        .filter(|r| r["event"] == "notification_delivered" && r["channel"] == "alertmanager")
        .collect();
    assert_eq!(delivered.len(), 2, "trigger and resolution delivered to Alertmanager");

    // Deliveries are audited; no secret reaches a log or the audit trail.
    let delivered = audit(d).into_iter().filter(|r| r["event"] == "notification_delivered").count();
    assert_eq!(delivered, 14, "7 channels × 2 notifications");
    let logs = format!(
        "{}{}",
        std::fs::read_to_string(d.join("application.log")).unwrap(),
        std::fs::read_to_string(d.join("audit.log")).unwrap()
    );
    for secret in
        ["smtp-secret-pw", "slack-token-secret", "teams-token-secret", "pd-routing-key-secret", "hmac-secret-value"]
    {
        assert!(!logs.contains(secret), "`{secret}` reached a log");
    }
}

#[test]
fn rate_limits_hold_back_repeats_summarise_them_and_never_hold_an_escalation() {
    // Two "nodes" that accept TCP (socket probe) and one closed port: one of
    // three down, so no mass-failure guard; the restart script always fails.
    let up: Vec<std::net::TcpListener> = (0..2).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let down = free_port();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let scripts = d.join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    let fail = scripts.join("default.sh");
    std::fs::write(&fail, "#!/bin/sh\necho 'cannot restart'\nexit 1\n").unwrap();
    std::fs::set_permissions(&fail, std::fs::Permissions::from_mode(0o755)).unwrap();
    let hook = Receiver::start();
    let nodes: String = up
        .iter()
        .enumerate()
        .map(|(i, l)| format!("    - {{node_id: up-{i}, host: 127.0.0.1, port: {}}}\n", l.local_addr().unwrap().port()))
        .collect();
    let config = write_temp(
        d,
        "config.yaml",
        &format!(
            "cluster:\n  kafka_brokers:\n{nodes}    - {{node_id: down-1, host: 127.0.0.1, port: {down}}}\n\
             monitoring:\n  methods: [socket]\n  interval_seconds: 1\n  timeout_seconds: 1\n\
             recovery:\n  actions: [script]\n  max_attempts: 8\n  initial_delay_seconds: 0.5\n  backoff_multiplier: 1\n\
             \x20 script: {{script_directory: {}}}\n\
             notifications:\n  group_wait_seconds: 0\n  triggers: {{on_recovery_failure: true}}\n\
             \x20 rate_limiting: {{max_notifications_per_hour: 3, cooldown_period_minutes: 0.05}}\n\
             \x20 webhook: {{url: \"http://127.0.0.1:{}/hook\"}}\n\
             logging:\n  file: {}\n  format: json\n  audit: {{file: {}}}\nsystem:\n  state_dir: {}\n{}",
            scripts.display(),
            hook.port,
            d.join("application.log").display(),
            d.join("audit.log").display(),
            d.join("state").display(),
            crate::support::http_line()
        ),
    );
    let _daemon = start_daemon(&config);
    wait_until("the escalation and a summary", Duration::from_secs(60), || {
        let triggers: Vec<String> =
            hook.json().iter().map(|n| n["trigger"].as_str().unwrap_or("").to_string()).collect();
        triggers.iter().any(|t| t == "on_max_retries_exceeded") && triggers.iter().any(|t| t == "summary")
    });
    let received = hook.json();
    let failures = received.iter().filter(|n| n["trigger"] == "on_recovery_failure").count();
    assert!((1..=3).contains(&failures), "8 failed attempts, at most 3 notified: {received:#?}");
    let summary = received.iter().find(|n| n["trigger"] == "summary").unwrap();
    assert!(summary["subject"].as_str().unwrap().contains("held back by rate limits"), "{summary:#}");
    assert!(summary["body"].as_str().unwrap().contains("down-1"), "{summary:#}");
    let held = audit(d).iter().filter(|r| r["event"] == "notification_suppressed").count();
    assert!(held >= 8 - failures - 1, "held back: {held}");
}

#[test]
fn email_goes_over_starttls_and_implicit_tls_with_auth() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tls = kafka_testbed::generate_tls(&d.join("tls")).unwrap();
    let (cert, key) = (d.join("tls/broker.pem"), d.join("tls/broker.key"));
    let up = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up2 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    for (mode, implicit) in [("starttls", false), ("smtps", true)] {
        let run_dir = d.join(mode);
        std::fs::create_dir_all(&run_dir).unwrap();
        let mail = run_dir.join("mail.jsonl");
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let mut args = vec!["--user", "alerts", "--password", "tls-smtp-pw", "--cert", cert, "--key", key];
        if implicit {
            args.push("--implicit");
        }
        let (_server, port) = smtp_server(&args, &mail);
        let config = write_temp(
            &run_dir,
            "config.yaml",
            &format!(
                "cluster:\n  kafka_brokers:\n    - {{node_id: up-1, host: 127.0.0.1, port: {}}}\n    - {{node_id: up-2, host: 127.0.0.1, port: {}}}\n\
                 \x20   - {{node_id: down-1, host: 127.0.0.1, port: {}}}\n\
                 monitoring:\n  methods: [socket]\n  interval_seconds: 1\n  timeout_seconds: 1\n\
                 recovery:\n  actions: []\n\
                 notifications:\n  triggers: {{on_failure_detected: true}}\n\
                 \x20 smtp: {{host: 127.0.0.1, port: {port}, use_tls: {}, use_ssl: {}, ca_file: {}, username: alerts,\n\
                 \x20        password: tls-smtp-pw, from_email: kafka@example.com, to_emails: [ops@example.com]}}\n\
                 logging:\n  file: {}\n  audit: {{file: {}}}\nsystem:\n  state_dir: {}\n{}",
                up.local_addr().unwrap().port(),
                up2.local_addr().unwrap().port(),
                free_port(),
                !implicit,
                implicit,
                tls.ca_pem.display(),
                run_dir.join("application.log").display(),
                run_dir.join("audit.log").display(),
                run_dir.join("state").display(),
                crate::support::http_line()
            ),
        );
        let _daemon = start_daemon(&config);
        wait_until(&format!("{mode}: an email"), Duration::from_secs(30), || {
            std::fs::read_to_string(&mail).is_ok_and(|t| t.lines().count() >= 2)
        });
        let mails: Vec<Value> =
            std::fs::read_to_string(&mail).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(mails.iter().all(|m| m["tls"] == true && m["authenticated"] == true), "{mode}: {mails:#?}");
        let subjects: Vec<&str> = mails.iter().map(|m| m["data"].as_str().unwrap()).collect();
        assert!(subjects.iter().any(|s| s.contains("Subject: [FAILED] down-1")), "{mode}: {subjects:#?}");
    }
}

#[test]
fn nodes_failing_together_are_one_message_but_escalations_are_not_grouped() {
    let up: Vec<std::net::TcpListener> = (0..4).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hook = Receiver::start();
    let mut nodes: String = up
        .iter()
        .enumerate()
        .map(|(i, l)| format!("    - {{node_id: up-{i}, host: 127.0.0.1, port: {}}}\n", l.local_addr().unwrap().port()))
        .collect();
    for i in 1..=2 {
        nodes += &format!("    - {{node_id: down-{i}, host: 127.0.0.1, port: {}}}\n", free_port());
    }
    let config = write_temp(
        d,
        "config.yaml",
        &format!(
            "cluster:\n  kafka_brokers:\n{nodes}monitoring:\n  methods: [socket]\n  interval_seconds: 1\n  timeout_seconds: 1\n\
             recovery:\n  actions: []\n\
             notifications:\n  group_wait_seconds: 2\n  triggers: {{on_failure_detected: true}}\n\
             \x20 webhook: {{url: \"http://127.0.0.1:{}/hook\"}}\n\
             logging:\n  file: {}\n  audit: {{file: {}}}\nsystem:\n  state_dir: {}\n{}",
            hook.port,
            d.join("application.log").display(),
            d.join("audit.log").display(),
            d.join("state").display(),
            crate::support::http_line()
        ),
    );
    let _daemon = start_daemon(&config);
    wait_until("the grouped failure and both escalations", Duration::from_secs(30), || {
        let got = hook.json();
        got.iter().any(|n| n["trigger"] == "on_failure_detected")
            && got.iter().filter(|n| n["trigger"] == "on_max_retries_exceeded").count() == 2
    });
    std::thread::sleep(Duration::from_secs(3));
    let got = hook.json();
    let detected: Vec<&Value> = got.iter().filter(|n| n["trigger"] == "on_failure_detected").collect();
    assert_eq!(detected.len(), 1, "one message for two nodes: {got:#?}");
    let subject = detected[0]["subject"].as_str().unwrap();
    assert!(subject.starts_with("[2 nodes]") && subject.contains("down-1") && subject.contains("down-2"), "{subject}");
    assert_eq!(
        got.iter().filter(|n| n["trigger"] == "on_max_retries_exceeded").count(),
        2,
        "escalations are never grouped"
    );
}

/// `notify-test`: a test message to each channel now, each one's result or
/// its exact error. A real SMTP server that (like most) offers no login
/// without TLS gets a password over a plain connection: `validate` warns and
/// the failure says the fix. A real Alertmanager and the PagerDuty stand-in
/// get the test and its resolution, so no alert stays open.
#[test]
fn notify_test_tries_each_channel_and_says_how_to_fix_what_fails() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_smtp, smtp_port) =
        smtp_server(&["--user", "alerts", "--password", "plain-pw", "--auth-require-tls"], &d.join("mail.jsonl"));
    let (_am, am_port) = alertmanager(d);
    let (pagerduty, webhook) = (Receiver::start(), Receiver::start());
    let config = write_temp(
        d,
        "config.yaml",
        &format!(
            "cluster:\n  name: tried\n  kafka_brokers: [{{node_id: k1, host: 127.0.0.1}}]\n\
             notifications:\n\
             \x20 smtp: {{host: 127.0.0.1, port: {smtp_port}, use_tls: false, username: alerts, password: \"${{SMTP_PASSWORD}}\", from_email: k@example.com, to_emails: [ops@example.com]}}\n\
             \x20 pagerduty: {{routing_key: \"${{PD_KEY}}\", events_url: \"http://127.0.0.1:{}/v2/enqueue\"}}\n\
             \x20 alertmanager: {{url: \"http://127.0.0.1:{am_port}\"}}\n\
             \x20 webhook: {{url: \"http://127.0.0.1:{}/hook\"}}\n\
             logging:\n  audit: {{file: {}}}\nsystem:\n  state_dir: {}\n",
            pagerduty.port,
            webhook.port,
            d.join("audit.log").display(),
            d.join("state").display()
        ),
    );
    let env = [("SMTP_PASSWORD", "plain-pw"), ("PD_KEY", "pd-test-key-secret")];
    let validate = crate::support::run(bin().arg("validate").arg(&config).envs(env));
    let said = crate::support::stdout(&validate);
    assert!(said.contains("a username and password are set but the connection is not encrypted"), "{said}");

    let out = crate::support::run(bin().args(["notify-test", "--config"]).arg(&config).envs(env));
    let text = crate::support::stdout(&out);
    assert_eq!(out.status.code(), Some(1), "smtp fails: {text}");
    let line =
        |channel: &str| text.lines().find(|l| l.starts_with(channel)).unwrap_or_else(|| panic!("{channel}: {text}"));
    assert!(line("smtp").contains("FAILED"), "{text}");
    assert!(line("smtp").contains("set `notifications.smtp.use_tls: true`"), "the fix: {text}");
    assert!(line("webhook").contains("OK") && line("pagerduty").contains("resolved at once"), "{text}");
    assert!(line("alertmanager").contains("resolved at once"), "{text}");
    assert!(!text.contains("pd-test-key-secret") && !text.contains("plain-pw"), "{text}");
    let events: Vec<Value> = pagerduty.json();
    let actions: Vec<&str> = events.iter().map(|e| e["event_action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["trigger", "resolve"], "{events:#?}");
    assert_eq!(events[0]["dedup_key"], events[1]["dedup_key"]);
    assert!(webhook.json()[0]["subject"].as_str().unwrap().starts_with("[TEST] tried:"), "{:#?}", webhook.json());
    // Alertmanager holds the test alert as resolved, not firing.
    let alerts: Vec<Value> =
        serde_json::from_str(&http_get(am_port, "/api/v2/alerts?active=true&silenced=true&inhibited=true").unwrap())
            .unwrap();
    assert!(
        alerts.iter().all(|a| a["labels"]["cluster"] != "tried" || a["status"]["state"] != "active"),
        "{alerts:#?}"
    );

    // One channel only; a channel that is not configured is named with those that are.
    let out =
        crate::support::run(bin().args(["notify-test", "--channel", "webhook", "--config"]).arg(&config).envs(env));
    assert_eq!(out.status.code(), Some(0), "{}", crate::support::stdout(&out));
    assert_eq!(webhook.json().len(), 2);
    let out = crate::support::run(bin().args(["notify-test", "--channel", "slack", "--config"]).arg(&config).envs(env));
    assert_eq!(out.status.code(), Some(1));
    let err = crate::support::stderr(&out);
    assert!(
        err.contains("no channel `slack` is configured; configured: smtp, webhook, pagerduty, alertmanager"),
        "{err}"
    );
    // In the audit trail, without the secrets.
    let trail = std::fs::read_to_string(d.join("audit.log")).unwrap();
    assert_eq!(trail.matches("\"event\":\"notify_test\"").count(), 2, "{trail}");
    assert!(!trail.contains("pd-test-key-secret"), "{trail}");
}
