//! Broken configurations: every problem is reported, at its line and column,
//! with a message that says what is wrong and a hint that says how to fix it.

use std::path::Path;

use kafka_self_healing::config::Severity;
use kafka_self_healing::setup;

const BROKERS: &str = "cluster:\n  kafka_brokers:\n    - {node_id: k1, host: kafka1}\n";

struct Case {
    name: &'static str,
    yaml: String,
    env: &'static [(&'static str, &'static str)],
    /// Each error as `LINE:COL: message`, in file order.
    errors: &'static [&'static str],
    /// Substrings that must appear in the hints.
    hints: &'static [&'static str],
}

fn case(name: &'static str, yaml: &str, errors: &'static [&'static str], hints: &'static [&'static str]) -> Case {
    Case { name, yaml: yaml.to_string(), env: &[], errors, hints }
}

/// Runs one case and returns what went wrong, if anything.
fn check(c: &Case) -> Result<(), String> {
    let env = |name: &str| c.env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    let report = match setup::parse_str(&c.yaml, Path::new("bad.yaml"), &env) {
        Ok(_) => return Err("the configuration was accepted".into()),
        Err(report) => report,
    };
    let got: Vec<String> = report
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            let m = d.mark.expect("a located error");
            format!("{}:{}: {}", m.line, m.col, d.message)
        })
        .collect();
    let want: Vec<String> = c.errors.iter().map(|s| s.to_string()).collect();
    if got != want {
        return Err(format!("errors differ\n  want: {want:#?}\n  got:  {got:#?}"));
    }
    let hints: Vec<&str> = report.diagnostics.iter().filter_map(|d| d.hint.as_deref()).collect();
    for h in c.hints {
        if !hints.iter().any(|x| x.contains(h)) {
            return Err(format!("no hint contains `{h}`; hints: {hints:#?}"));
        }
    }
    // The rendered report names the file for every error.
    let text = report.to_string();
    for line in &want {
        if !text.contains(&format!("bad.yaml:{}", line.replacen(": ", ": error: ", 1))) {
            return Err(format!("rendered report lacks `bad.yaml:{line}`:\n{text}"));
        }
    }
    Ok(())
}

#[test]
fn broken_configurations_are_reported_where_they_are_wrong() {
    let cases = vec![
        case(
            "a notification template that does not render",
            &format!(
                "{BROKERS}notifications:\n  templates:\n    on_recovery_success:\n      body: \"{{{{ node }}}} is back after {{{{ downtime }}}}\"\n"
            ),
            &["7:13: the template does not render: undefined value (in t:1)"],
            &["variables: cluster, trigger"],
        ),
        case(
            "recovery guards out of range and an action without its settings",
            &format!(
                "{BROKERS}recovery:\n  actions: [restart_service, ssh]\n  max_parallel: 0\n  max_failed_fraction: 1.5\n"
            ),
            &[
                "5:30: the `ssh` action is used but `recovery.ssh.command` is not set",
                "6:17: `recovery.max_parallel` must be at least 1, found 0",
                "7:24: `recovery.max_failed_fraction` must be above 0 and at most 1, found 1.5",
            ],
            &["ssh: {command:"],
        ),
        case(
            "wrong type",
            &format!("{BROKERS}monitoring:\n  interval_seconds: fast\n"),
            &["5:21: `monitoring.interval_seconds` must be a duration, found `fast`"],
            &["`30s`"],
        ),
        case(
            "wrong type: integer",
            &format!("{BROKERS}monitoring:\n  failure_threshold: three\n"),
            &["5:22: `monitoring.failure_threshold` must be a whole number, found `three`"],
            &[],
        ),
        case(
            "wrong type: boolean",
            &format!("{BROKERS}monitoring:\n  concurrent_checks: maybe\n"),
            &["5:22: `monitoring.concurrent_checks` must be true or false, found `maybe`"],
            &[],
        ),
        case(
            "wrong type: list",
            &format!("{BROKERS}notifications:\n  smtp:\n    host: mail\n    to_emails: ops@example.com\n"),
            &[
                "7:16: `notifications.smtp.to_emails` must be a list (`[a, b]` or one `- item` per line), found `ops@example.com`",
            ],
            &[],
        ),
        case(
            "unknown key with suggestion",
            &format!("{BROKERS}monitoring:\n  intervall_seconds: 5\n"),
            &["5:3: unknown key `intervall_seconds` in `monitoring`"],
            &["did you mean `interval_seconds`?"],
        ),
        case(
            "unknown key in a node",
            "cluster:\n  kafka_brokers:\n    - node_id: k1\n      host: kafka1\n      prot: 9092\n",
            &["5:7: unknown key `prot` in `cluster.kafka_brokers[0]`"],
            &["did you mean `port`?"],
        ),
        case(
            "unknown top-level section",
            &format!("{BROKERS}monitorng:\n  interval_seconds: 5\n"),
            &["4:1: unknown key `monitorng` at the top level"],
            &["did you mean `monitoring`?"],
        ),
        case(
            "missing environment variable",
            &format!(
                "{BROKERS}notifications:\n  smtp:\n    host: mail\n    password: ${{SMTP_PASS_X}}\n    to_emails: [a@b.c]\n"
            ),
            &["7:15: environment variable `SMTP_PASS_X` is not set (in `notifications.smtp.password`)"],
            &["export SMTP_PASS_X", "${SMTP_PASS_X:-value}"],
        ),
        case(
            "required environment variable with a message",
            &format!(
                "{BROKERS}notifications:\n  smtp:\n    host: ${{SMTP_HOST:?the relay host}}\n    to_emails: [a@b.c]\n"
            ),
            &["6:11: environment variable `SMTP_HOST` is required: the relay host (in `notifications.smtp.host`)"],
            &[],
        ),
        case(
            "duplicate node id",
            "cluster:\n  kafka_brokers:\n    - {node_id: k1, host: a}\n  zookeeper_nodes:\n    - {node_id: k1, host: b}\n",
            &["5:17: duplicate node_id `k1` (first used at line 3)"],
            &["unique across brokers, controllers and ZooKeeper nodes"],
        ),
        case(
            "missing required key",
            "cluster:\n  kafka_brokers:\n    - {node_id: k1}\n",
            &["3:7: missing required key `host` in `cluster.kafka_brokers[0]`"],
            &[],
        ),
        case(
            "empty host",
            "cluster:\n  kafka_brokers:\n    - {node_id: k1, host: \"\"}\n",
            &["3:27: `cluster.kafka_brokers[0].host` must not be empty"],
            &[],
        ),
        case(
            "bad ports",
            "cluster:\n  kafka_brokers:\n    - {node_id: k1, host: a, port: 70000}\n    - {node_id: k2, host: b, port: 0}\n",
            &[
                "3:36: `cluster.kafka_brokers[0].port` is too large, found 70000",
                "4:36: `cluster.kafka_brokers[1].port` must be between 1 and 65535, found 0",
            ],
            &[],
        ),
        case(
            "numbers out of the type's range name only the side crossed",
            &format!("{BROKERS}recovery:\n  max_attempts: 5000000000\n  max_parallel: -1\n"),
            &[
                "5:17: `recovery.max_attempts` is too large, found 5000000000",
                "6:17: `recovery.max_parallel` must not be negative, found -1",
            ],
            &[],
        ),
        case(
            "a node id that could forge log lines",
            "cluster:\n  kafka_brokers:\n    - {node_id: \"broker-1\\nNode status: x\", host: a}\n    - {node_id: \"b 2\", host: b}\n",
            &[
                "3:17: `node_id` \"broker-1\\nNode status: x\" has '\\n' at character 9: a node id may contain only letters, digits, `.`, `_` and `-` (at most 128 characters)",
                "4:17: `node_id` \"b 2\" has ' ' at character 2: a node id may contain only letters, digits, `.`, `_` and `-` (at most 128 characters)",
            ],
            &["kafka-broker-1"],
        ),
        case(
            "the whole file is a list",
            "- cluster: {}\n- monitoring: {}\n",
            &["1:1: the configuration must be a mapping of sections, found a list"],
            &["`cluster:`"],
        ),
        case(
            "four-letter words that change the server",
            &format!("{BROKERS}monitoring:\n  zookeeper: {{four_letter_words: [srvr, crst, srst]}}\n"),
            &[
                "5:41: `crst` changes the ZooKeeper server (it resets statistics or settings); monitors only read",
                "5:47: `srst` changes the ZooKeeper server (it resets statistics or settings); monitors only read",
            ],
            &["read-only words: ruok"],
        ),
        case(
            "an alias bomb",
            &format!(
                "{BROKERS}x:\n  a: &a [l,l,l,l,l,l,l,l,l,l]\n  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
            ),
            &["10:31: the document expands to more than 1000000 values (aliases counted at their full size)"],
            &["billion laughs"],
        ),
        case(
            "bad retry policy",
            &format!(
                "{BROKERS}recovery:\n  max_attempts: 0\n  backoff_multiplier: 0.5\n  initial_delay_seconds: 60\n  max_delay_seconds: 10\n"
            ),
            &[
                "5:17: `recovery.max_attempts` must be at least 1, found 0",
                "6:23: `recovery.backoff_multiplier` must be at least 1.0, found 0.5",
                "8:22: `recovery.max_delay_seconds` (10s) is smaller than `initial_delay_seconds` (60s)",
            ],
            &["2.0 doubles them"],
        ),
        case(
            "bad per-node retry policy",
            "cluster:\n  kafka_brokers:\n    - node_id: k1\n      host: a\n      retry_policy: {max_attempts: 0, max_delay_seconds: 1}\n",
            &[
                "5:36: `cluster.kafka_brokers[0].retry_policy.max_attempts` must be at least 1, found 0",
                "5:58: `cluster.kafka_brokers[0].retry_policy.max_delay_seconds` (1s) is smaller than `initial_delay_seconds` (10s)",
            ],
            &[],
        ),
        case(
            "zero duration",
            &format!("{BROKERS}monitoring:\n  timeout_seconds: 0\n"),
            &["5:20: `monitoring.timeout_seconds` must be greater than zero, found `0`"],
            &[],
        ),
        case(
            "a negative wait is an error, never clamped",
            &format!(
                "{BROKERS}notifications:\n  group_wait_seconds: -5\nrecovery:\n  isr_catch_up_timeout_seconds: -1s\n"
            ),
            &[
                "5:23: `notifications.group_wait_seconds` must be zero or more, found `-5`",
                "7:33: `recovery.isr_catch_up_timeout_seconds` must be zero or more, found `-1s`",
            ],
            &[],
        ),
        case(
            "both TLS modes",
            &format!(
                "{BROKERS}notifications:\n  smtp:\n    host: mail\n    use_tls: true\n    use_ssl: true\n    to_emails: [a@b.c]\n"
            ),
            &["8:14: `use_tls` (STARTTLS) and `use_ssl` (implicit TLS) cannot both be true"],
            &["port 465"],
        ),
        case(
            "YAML syntax error",
            "cluster:\n  kafka_brokers: [\n    {node_id: k1, host: a}\n",
            &["4:1: YAML syntax error: while parsing a flow sequence, expected ',' or ']'"],
            &["indentation and quoting"],
        ),
        case(
            "duplicate YAML key",
            &format!("{BROKERS}monitoring:\n  interval_seconds: 5\n  interval_seconds: 10\n"),
            &["6:3: duplicate key `interval_seconds` (first defined at line 5)"],
            &[],
        ),
        case(
            "empty cluster",
            "cluster:\n  name: nothing\n",
            &[
                "1:1: the cluster has no nodes: `cluster.kafka_brokers`, `cluster.kraft_controllers` and `cluster.zookeeper_nodes` are all empty",
            ],
            &["list at least one node"],
        ),
        case("empty file", "# nothing here\n", &["1:1: the configuration file is empty"], &["config_minimal.yaml"]),
        case(
            "unknown method",
            &format!("{BROKERS}monitoring:\n  methods: [socket, kafka_apii]\n"),
            &["5:21: unknown monitoring method `kafka_apii`"],
            &["did you mean `kafka_api`?"],
        ),
        case(
            "method of another role",
            "cluster:\n  zookeeper_nodes:\n    - {node_id: zk1, host: a, monitoring_methods: [kraft_quorum]}\n",
            &["3:52: monitoring method `kraft_quorum` cannot be used on a zookeeper node"],
            &["`kraft_quorum` applies to: kafka_broker, kraft_controller"],
        ),
        case(
            "a method without its settings",
            &format!("{BROKERS}monitoring:\n  methods: [http, command]\n"),
            &[
                "5:13: the `http` method is used but `monitoring.http.url` is not set",
                "5:19: the `command` method is used but `monitoring.command.command` is not set",
            ],
            &["http://{host}:8080/health"],
        ),
        case(
            "unknown action",
            &format!("{BROKERS}recovery:\n  actions: [restart_service, reboot_the_world]\n"),
            &["5:30: unknown recovery action `reboot_the_world`"],
            &["known recovery actions: restart_service"],
        ),
        case(
            "TLS file missing",
            &format!("{BROKERS}security:\n  ssl:\n    enabled: true\n    ca_file: /nonexistent/ca.pem\n"),
            &["7:14: cannot read `/nonexistent/ca.pem`: No such file or directory (os error 2)"],
            &[],
        ),
        case(
            "SASL credentials missing from the environment",
            &format!("{BROKERS}security:\n  sasl:\n    enabled: true\n    mechanism: SCRAM-SHA-1\n"),
            &[
                "6:14: environment variable `KAFKA_USERNAME` (named by `security.sasl.username_env`) is not set",
                "6:14: environment variable `KAFKA_PASSWORD` (named by `security.sasl.password_env`) is not set",
                "7:16: unsupported SASL mechanism `SCRAM-SHA-1`",
            ],
            &["export KAFKA_USERNAME"],
        ),
        case(
            "bad blackout period",
            &format!(
                "{BROKERS}monitoring:\n  blackout_periods:\n    - {{start_time: \"25:00\", end_time: \"03:00\", days: [sunday, someday]}}\n"
            ),
            &[
                "6:20: `monitoring.blackout_periods[0].start_time` must be a time as HH:MM (24-hour), found `25:00`",
                "6:63: `someday` is not a day of the week",
            ],
            &[],
        ),
        case(
            "bad log level",
            &format!("{BROKERS}logging:\n  level: LOUD\n"),
            &["5:10: unknown log level `LOUD`"],
            &["WARNING"],
        ),
        case(
            "several healers configured wrongly",
            &format!(
                "{BROKERS}ha:\n  enabled: true\n  endpoints: [etcd1:2379]\n  lease_seconds: 2.5\n  instance_id: my healer\n  election_path: relative\n  username: healer\n  password_env: KSH_TEST_UNSET_HA_PASSWORD\n  tls: {{cert_file: /nonexistent/cert.pem}}\n"
            ),
            &[
                "6:15: `etcd1:2379` is not an etcd endpoint URL",
                "7:18: `ha.lease_seconds` must be whole seconds, at least 3 (etcd grants whole seconds), found 2.5",
                "8:16: the instance id \"my healer\" cannot name this healer among the others",
                "9:18: `relative` is not a key prefix",
                "11:17: `ha.username` is set but the environment variable KSH_TEST_UNSET_HA_PASSWORD is not",
                "12:3: `cert_file` and `key_file` go together",
                "12:20: cannot read /nonexistent/cert.pem",
            ],
            &["http://HOST:2379", "without spaces or slashes", "the unit's EnvironmentFile"],
        ),
        case(
            "a coordination backend that does not exist",
            &format!("{BROKERS}ha:\n  enabled: true\n  backend: consul\n  endpoints: [http://127.0.0.1:2379]\n"),
            &["6:12: unknown high-availability backend `consul`"],
            &["etcd"],
        ),
        case(
            "a ZooKeeper backend configured with etcd's keys",
            &format!(
                "{BROKERS}ha:\n  enabled: true\n  backend: zookeeper\n  endpoints: [http://127.0.0.1:2379]\n  connect: zk1,zk2:2181/ksh\n  tls: {{cert_file: /etc/hostname, key_file: /etc/hostname}}\n"
            ),
            &[
                "7:14: `ha.endpoints` lists etcd members, but `ha.backend` is zookeeper",
                "8:12: `zk1,zk2:2181/ksh` is not a ZooKeeper connect string: `zk1` has no port",
                "9:3: a client certificate without `ha.tls.ca_file`: the ZooKeeper servers' certificates cannot be verified",
            ],
            &["connect: zk1:2181,zk2:2181,zk3:2181/kafka-self-healing", "host:port,host:port,host:port"],
        ),
        case(
            "a ZooKeeper backend without its ensemble",
            &format!("{BROKERS}ha:\n  enabled: true\n  backend: zookeeper\n"),
            &["4:1: `ha.backend` is zookeeper but `ha.connect` is not set"],
            &["a ZooKeeper-mode cluster's own ensemble will do"],
        ),
    ];
    assert!(cases.len() >= 15);
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check(c).err().map(|e| format!("case `{}`: {e}\n--- yaml ---\n{}", c.name, c.yaml)))
        .collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

#[test]
fn every_error_of_a_file_is_reported_at_once() {
    let yaml = "cluster:\n  kafka_brokers:\n    - {node_id: k1, host: a, port: 0}\n    - {node_id: k1, host: b}\nmonitoring:\n  failure_threshold: x\n  bogus: 1\nrecovery:\n  max_attempts: 0\n";
    let report = setup::parse_str(yaml, Path::new("c.yaml"), &|_| None).unwrap_err();
    assert_eq!(report.errors().count(), 5, "{report}");
    assert!(report.to_string().ends_with("c.yaml: 5 error(s), 1 warning(s)"), "{report}");
}

#[test]
fn overlays_and_python_formats_are_warnings_not_errors() {
    let yaml = format!(
        "{BROKERS}logging:\n  format: \"%(asctime)s - %(message)s\"\ndevelopment:\n  debug: true\nmulti_datacenter: {{}}\n"
    );
    let loaded = setup::parse_str(&yaml, Path::new("w.yaml"), &|_| None).unwrap();
    let warnings: Vec<String> = loaded.warnings.warnings().map(|d| d.message.clone()).collect();
    assert_eq!(
        warnings,
        vec![
            "no notification channel is configured: escalations will only be logged",
            "a Python logging format string is not used by this implementation; lines are written in the `text` format",
            "section `development` is not used by this implementation",
            "section `multi_datacenter` is not used by this implementation",
        ]
    );
}

#[test]
fn a_missing_file_is_an_error_naming_the_file() {
    let err = setup::load(Path::new("/nonexistent/config.yaml")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "/nonexistent/config.yaml: error: cannot read the configuration file: No such file or directory"
        ),
        "{text}"
    );
    assert!(text.contains("--config FILE or KAFKA_SELF_HEALING_CONFIG=FILE"), "{text}");
}

#[test]
fn environment_references_fill_values_and_secrets_stay_hidden() {
    let yaml = format!(
        "{BROKERS}notifications:\n  smtp:\n    host: ${{RELAY:-mail.example.com}}\n    port: ${{SMTP_PORT}}\n    password: ${{SMTP_PASSWORD}}\n    to_emails: [ops@example.com]\n"
    );
    let env = |name: &str| match name {
        "SMTP_PORT" => Some("2525".to_string()),
        "SMTP_PASSWORD" => Some("s3cr3t-value".to_string()),
        _ => None,
    };
    let loaded = setup::parse_str(&yaml, Path::new("e.yaml"), &env).unwrap();
    let smtp = loaded.config.notifications.smtp.as_ref().unwrap();
    assert_eq!(smtp.host, "mail.example.com");
    assert_eq!(smtp.port, 2525);
    assert_eq!(smtp.password.as_ref().map(|p| p.expose()), Some("s3cr3t-value"));
    let shown = format!("{:?} {}", loaded.config, serde_json::to_string(&loaded.config).unwrap());
    assert!(!shown.contains("s3cr3t-value"), "secret leaked: {shown}");
    assert!(shown.contains("\"password\":\"***\""));
}

#[test]
fn runbook_environment_variables_fill_missing_credentials() {
    let yaml = format!("{BROKERS}notifications:\n  smtp: {{host: mail, to_emails: [a@b.c]}}\n");
    let env = |name: &str| match name {
        "SMTP_USERNAME" => Some("alerts".to_string()),
        "SMTP_PASSWORD" => Some("from-env".to_string()),
        _ => None,
    };
    let loaded = setup::parse_str(&yaml, Path::new("e.yaml"), &env).unwrap();
    let smtp = loaded.config.notifications.smtp.unwrap();
    assert_eq!(smtp.username.as_deref(), Some("alerts"));
    assert_eq!(smtp.password.map(|p| p.expose().to_string()).as_deref(), Some("from-env"));
}

#[test]
fn effective_node_settings_inherit_from_their_sections() {
    let yaml = "cluster:\n  kafka_brokers:\n    - {node_id: k1, host: a, jmx_port: 8778, retry_policy: {max_attempts: 2}}\n  zookeeper_nodes:\n    - {node_id: z1, host: z}\n\
                monitoring:\n  methods: [socket, jmx]\n  jmx: {transport: jolokia}\nrecovery:\n  actions: [script]\n  initial_delay_seconds: 5\n";
    let loaded = setup::parse_str(yaml, Path::new("e.yaml"), &|_| None).unwrap();
    let c = &loaded.config.cluster;
    let broker = &c.kafka_brokers[0];
    assert_eq!(broker.port, Some(9092));
    assert_eq!(broker.monitoring_methods.as_deref(), Some(&["socket".to_string(), "jmx".to_string()][..]));
    assert_eq!(broker.recovery_actions.as_deref(), Some(&["script".to_string()][..]));
    let policy = broker.retry_policy.as_ref().unwrap();
    assert_eq!((policy.max_attempts, policy.initial_delay_seconds.map(|s| s.0)), (Some(2), Some(5.0)));
    // `jmx` cannot check ZooKeeper; the runbook's global list still covers it.
    let zk = &c.zookeeper_nodes[0];
    assert_eq!(zk.port, Some(2181));
    assert_eq!(zk.monitoring_methods.as_deref(), Some(&["socket".to_string()][..]));
}

/// Where zero means something, it is accepted, and every duration takes a unit.
#[test]
fn zero_where_it_means_something_and_units_everywhere() {
    let yaml =
        format!("{BROKERS}notifications:\n  group_wait_seconds: 5s\nrecovery:\n  isr_catch_up_timeout_seconds: 0\n");
    let loaded = setup::parse_str(&yaml, Path::new("ok.yaml"), &|_| None).expect("accepted");
    assert_eq!(loaded.config.notifications.group_wait_seconds.0, 5.0);
    assert!(loaded.config.recovery.isr_catch_up_timeout_seconds.duration().is_zero());
}

/// Issue: `validate` demanded the JMX bridge jar when `jmx` was listed only
/// for nodes it does not apply to (ZooKeeper). Only a node that uses it needs it.
#[test]
fn the_jmx_bridge_is_needed_only_where_a_node_uses_jmx() {
    let monitoring = "monitoring:\n  methods: [socket, jmx]\n  jmx: {bridge_jar: /nonexistent/jmx-bridge.jar}\n";
    let zookeeper_only = format!("cluster:\n  zookeeper_nodes:\n    - {{node_id: zk1, host: zk1}}\n{monitoring}");
    let loaded = setup::parse_str(&zookeeper_only, Path::new("zk.yaml"), &|_| None).expect("no node uses jmx");
    let methods = loaded.config.cluster.zookeeper_nodes[0].monitoring_methods.clone();
    assert_eq!(methods.as_deref(), Some(&["socket".to_string()][..]));
    let brokers =
        format!("cluster:\n  kafka_brokers:\n    - {{node_id: k1, host: kafka1, jmx_port: 9999}}\n{monitoring}");
    let Err(report) = setup::parse_str(&brokers, Path::new("k.yaml"), &|_| None) else {
        panic!("a broker uses jmx: the bridge jar must be readable");
    };
    assert!(report.to_string().contains("cannot read `/nonexistent/jmx-bridge.jar`"), "{report}");
}
