//! TLS (PEM and PKCS#12, mutual) and SASL (PLAIN, SCRAM-SHA-256/512) for the
//! Kafka probes, against real brokers with a SASL_SSL listener: Kafka 3.9 in
//! ZooKeeper mode and Kafka 4.x in KRaft mode. SCRAM users are created with
//! Kafka's own `kafka-configs`; certificates with `openssl` and `keytool`.

use std::path::Path;

use kafka_testbed::{Cluster, SASL_PASSWORD, SASL_USER, STORE_PASSWORD, Spec, TlsFiles};
use serde_json::Value;

use crate::support::{bin, cluster_lock, run, stderr, write_temp};

const SCRAM_USER: &str = "bob";
const SCRAM_PASSWORD: &str = "bob-scram-secret";

/// `security:` section plus one broker on the SASL_SSL port.
fn config(cluster: &Cluster, ssl: &str, mechanism: &str) -> String {
    let broker = cluster.brokers().next().unwrap();
    format!(
        "cluster:\n  kafka_brokers:\n    - {{node_id: secure-1, host: 127.0.0.1, port: {}, broker_id: {}}}\n\
         monitoring:\n  methods: [kafka_api, kafka_metadata, kafka_log_dirs]\n  timeout_seconds: 5\n\
         security:\n  ssl:\n    enabled: true\n{ssl}  sasl:\n    enabled: true\n    mechanism: {mechanism}\n\
         logging: {{file: \"\"}}\n",
        broker.secure_port.unwrap(),
        broker.id,
    )
}

fn pem_client(tls: &TlsFiles) -> String {
    format!(
        "    ca_file: {}\n    cert_file: {}\n    key_file: {}\n",
        tls.ca_pem.display(),
        tls.client_cert_pem.display(),
        tls.client_key_pem.display()
    )
}

fn p12_client(tls: &TlsFiles) -> String {
    format!("    truststore_path: {}\n    keystore_path: {}\n", tls.truststore_p12.display(), tls.client_p12.display())
}

/// Runs `check --output json` with the given SASL user and password.
fn check(dir: &Path, name: &str, text: &str, user: &str, password: &str) -> (i32, Value) {
    let file = write_temp(dir, name, text);
    let out = run(bin()
        .args(["check", "--output", "json", "--config"])
        .arg(&file)
        .env("KAFKA_USERNAME", user)
        .env("KAFKA_PASSWORD", password)
        .env("KEYSTORE_PASSWORD", STORE_PASSWORD)
        .env("TRUSTSTORE_PASSWORD", STORE_PASSWORD));
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("JSON report for {name}; stderr: {}", stderr(&out)));
    let text = serde_json::to_string(&report).unwrap();
    for secret in [password, STORE_PASSWORD] {
        assert!(!text.contains(secret), "{name}: a secret reached the report: {text}");
        assert!(!stderr(&out).contains(secret), "{name}: a secret reached stderr");
    }
    (out.status.code().unwrap_or(-1), report)
}

fn node(report: &Value) -> &Value {
    &report["nodes"][0]
}

fn assert_healthy(dir: &Path, name: &str, text: &str, user: &str, password: &str) {
    let (code, report) = check(dir, name, text, user, password);
    assert_eq!(code, 0, "{name}: {report:#}");
    let n = node(&report);
    assert_eq!(n["state"], "healthy", "{name}: {n:#}");
    for o in n["observations"].as_array().unwrap() {
        assert_eq!(o["status"], "healthy", "{name}: every Kafka probe authenticates: {o:#}");
    }
}

fn secure_cluster(spec: Spec) -> Cluster {
    let cluster = Cluster::start(Spec { secure: true, ..spec }).expect("secure test bed starts");
    cluster.add_scram_user(SCRAM_USER, SCRAM_PASSWORD).expect("kafka-configs creates the SCRAM user");
    cluster
}

/// Every mechanism and both key formats on one broker; then the refusals.
fn exercise(cluster: &Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tls = cluster.tls().unwrap();

    // SCRAM credentials reach the broker's metadata asynchronously: allow a few seconds.
    let scram256 = config(cluster, &pem_client(tls), "SCRAM-SHA-256");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while check(d, "wait.yaml", &scram256, SCRAM_USER, SCRAM_PASSWORD).0 != 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert_healthy(d, "scram256-pem.yaml", &scram256, SCRAM_USER, SCRAM_PASSWORD);
    assert_healthy(
        d,
        "scram512-p12.yaml",
        &config(cluster, &p12_client(tls), "SCRAM-SHA-512"),
        SCRAM_USER,
        SCRAM_PASSWORD,
    );
    assert_healthy(d, "plain-pem.yaml", &config(cluster, &pem_client(tls), "PLAIN"), SASL_USER, SASL_PASSWORD);

    // A wrong password is an authentication failure — unknown, never "broker down".
    for (name, mechanism, user) in
        [("wrong-scram.yaml", "SCRAM-SHA-256", SCRAM_USER), ("wrong-plain.yaml", "PLAIN", SASL_USER)]
    {
        let (code, report) = check(d, name, &config(cluster, &pem_client(tls), mechanism), user, "not-the-password");
        let n = node(&report);
        assert_eq!(n["state"], "unknown", "{name}: {n:#}");
        assert_eq!(n["verdict"]["cause"], "authentication_failed", "{name}: {n:#}");
        assert!(n["verdict"]["detail"].as_str().unwrap().contains(mechanism), "{name}: {n:#}");
        assert_eq!(code, 1, "{name}: unknown, not failed");
    }

    // No client certificate: the listener requires one. Also unknown, named as TLS.
    let ca_only = format!("    ca_file: {}\n", tls.ca_pem.display());
    let (_, report) = check(d, "no-client-cert.yaml", &config(cluster, &ca_only, "PLAIN"), SASL_USER, SASL_PASSWORD);
    let n = node(&report);
    assert_eq!(n["state"], "unknown", "{n:#}");
    assert_eq!(n["verdict"]["cause"], "tls_failed", "{n:#}");

    // A CA that did not sign the broker's certificate: never trusted.
    let wrong_ca = format!(
        "    ca_file: {}\n    cert_file: {}\n    key_file: {}\n",
        tls.client_cert_pem.display(),
        tls.client_cert_pem.display(),
        tls.client_key_pem.display()
    );
    let (_, report) = check(d, "wrong-ca.yaml", &config(cluster, &wrong_ca, "PLAIN"), SASL_USER, SASL_PASSWORD);
    let n = node(&report);
    assert_eq!(n["verdict"]["cause"], "tls_failed", "{n:#}");
    assert!(n["verdict"]["detail"].as_str().unwrap().to_lowercase().contains("certificate"), "{n:#}");
}

#[test]
fn tls_and_sasl_on_kafka_3_9_zookeeper_mode() {
    let _lock = cluster_lock();
    let cluster = secure_cluster(Spec { zookeepers: 1, brokers: 1, ..Spec::zookeeper() });
    exercise(&cluster);
}

#[test]
fn tls_and_sasl_on_kafka_4_kraft() {
    let _lock = cluster_lock();
    let cluster = secure_cluster(Spec { brokers: 1, ..Spec::kraft() });
    exercise(&cluster);
}

#[test]
fn unusable_stores_are_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Real stores, made like the test bed's, without starting a cluster.
    let tls = kafka_testbed::generate_tls(&d.join("tls")).unwrap();
    let text = format!(
        "cluster:\n  kafka_brokers:\n    - {{node_id: b1, host: 127.0.0.1, port: 9093}}\n\
         security:\n  ssl:\n    enabled: true\n    truststore_path: {}\n    keystore_path: {}\n",
        tls.truststore_p12.display(),
        tls.client_p12.display()
    );
    let file = write_temp(d, "c.yaml", &text);
    let validate = |keystore_pw: &str| {
        run(bin()
            .arg("validate")
            .arg(&file)
            .env("KEYSTORE_PASSWORD", keystore_pw)
            .env("TRUSTSTORE_PASSWORD", STORE_PASSWORD))
    };
    let ok = validate(STORE_PASSWORD);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let wrong = validate("wrong-password");
    assert_eq!(wrong.status.code(), Some(1));
    let err = stderr(&wrong);
    assert!(err.contains("c.yaml:8:20: error: cannot open"), "{err}");
    assert!(err.contains("as PKCS#12") && err.contains("KEYSTORE_PASSWORD"), "{err}");
    assert!(!err.contains("wrong-password"), "the password is never printed: {err}");
}
