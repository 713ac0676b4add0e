//! Every configuration section and key, with its default and meaning.
//!
//! Owns: the shape of `config.yaml` (the runbook's schema plus our additions).
//! Must never: check relations between keys (that is `validate`) or read files.
//! `docs/configuration.md` documents every key declared here; a test keeps the two in step.

use std::collections::BTreeMap;

use super::calendar::{TimeOfDay, Weekday};
use super::decode::{Seconds, SecondsOrZero, Secret, closed_set, section};
use super::role::Role;

section! {
    /// The whole file.
    pub struct Config {
        /// The cluster's name and every node to watch.
        cluster: ClusterConfig = ClusterConfig::default(),
        /// How nodes are probed and when a node counts as failed.
        monitoring: MonitoringConfig = MonitoringConfig::default(),
        /// The retry policy and the recovery actions.
        recovery: RecoveryConfig = RecoveryConfig::default(),
        /// Channels, triggers and rate limits.
        notifications: NotificationsConfig = NotificationsConfig::default(),
        /// Application, audit and performance logs.
        logging: LoggingConfig = LoggingConfig::default(),
        /// TLS and SASL used to talk to Kafka.
        security: SecurityConfig = SecurityConfig::default(),
        /// Built-in and external plugins.
        plugins: PluginsConfig = PluginsConfig::default(),
        /// The daemon itself: limits, state, metrics endpoint.
        system: SystemConfig = SystemConfig::default(),
        /// Several healers, exactly one acts: leader election with fencing.
        ha: HaConfig = HaConfig::default(),
    }
}

section! {
    /// High availability: several healers watch the cluster, the one that
    /// holds the election in the coordination backend acts.
    pub struct HaConfig {
        /// Take part in the election; off, this healer acts alone.
        enabled: bool = false,
        /// `etcd` (v3) or `zookeeper`.
        backend: HaBackend = HaBackend::Etcd,
        /// etcd endpoints (`http://host:2379` or `https://…`).
        endpoints: Vec<String> = Vec::new(),
        /// ZooKeeper connect string (`zk1:2181,zk2:2181,zk3:2181/kafka-self-healing`), for `backend: zookeeper`.
        connect: Option<String> = None,
        /// TLS to etcd.
        tls: HaTlsConfig = HaTlsConfig::default(),
        /// etcd user, or ZooKeeper `digest` user (authentication on); its password comes from `password_env`.
        username: Option<String> = None,
        /// Environment variable holding the backend user's password.
        password_env: String = "KSH_HA_PASSWORD",
        /// Key prefix of this cluster's election, members and intent journal; defaults to `/kafka-self-healing/<cluster.name>`.
        election_path: Option<String> = None,
        /// The leader's lease: a healer that cannot renew it stops acting within this time, and another leads after it.
        lease_seconds: Seconds = 10.0,
        /// This healer's name among the others; defaults to the host name.
        instance_id: Option<String> = None,
        /// Other healers that must also see a node down before the leader acts on it (0: the leader's own view suffices).
        confirm_from: u32 = 1,
    }
}

section! {
    /// TLS to the coordination backend.
    pub struct HaTlsConfig {
        /// CA certificate (PEM) that signed the servers' certificates.
        ca_file: Option<String> = None,
        /// Client certificate (PEM), for servers that require one.
        cert_file: Option<String> = None,
        /// The client certificate's key (PEM).
        key_file: Option<String> = None,
    }
}

section! {
    /// A dead man's switch: a signal every interval while a healer runs, so
    /// people learn when none does.
    pub struct DeadMansSwitchConfig {
        /// An always-firing alert (`alertname="KafkaSelfHealingWatchdog"`) sent to this Alertmanager (base URL).
        alertmanager_url: Option<String> = None,
        /// A URL fetched (GET) every interval, for a ping service that pages when the pings stop.
        ping_url: Option<Secret> = None,
        /// How often.
        interval_seconds: Seconds = 60.0,
    }
}

section! {
    /// The cluster to watch.
    pub struct ClusterConfig {
        /// Label used in metrics, messages and the status page.
        name: String = "kafka-cluster",
        /// Kafka brokers (ZooKeeper mode or KRaft). Port defaults to 9092.
        kafka_brokers: Vec<NodeConfig> = Vec::new(),
        /// KRaft controllers; `port` is the controller listener. Port defaults to 9093.
        kraft_controllers: Vec<NodeConfig> = Vec::new(),
        /// ZooKeeper ensemble members. Port defaults to 2181.
        zookeeper_nodes: Vec<NodeConfig> = Vec::new(),
    }
}

section! {
    /// One node: a broker, a controller or a ZooKeeper server.
    pub struct NodeConfig {
        /// Unique name of the node in this file; used in messages, metrics and commands.
        node_id: String,
        /// Host name or IP address the daemon connects to.
        host: String,
        /// Port of the node's listener (brokers 9092, controllers 9093, ZooKeeper 2181 when absent).
        port: Option<u16> = None,
        /// Kafka's broker.id / node.id; learned from metadata when absent.
        broker_id: Option<i32> = None,
        /// JMX/RMI port of the node's JVM.
        jmx_port: Option<u16> = None,
        /// ZooKeeper only: the AdminServer's HTTP port (`admin.serverPort`), asked
        /// (`/commands/...`) when the four-letter words are not whitelisted.
        admin_port: Option<u16> = None,
        /// Data centre or availability zone, for grouping and routing.
        datacenter: Option<String> = None,
        /// Free-form labels, for routing notifications.
        tags: BTreeMap<String, String> = BTreeMap::new(),
        /// Probes for this node; overrides `monitoring.methods`.
        monitoring_methods: Option<Vec<String>> = None,
        /// Recovery ladder for this node; overrides `recovery.actions`.
        recovery_actions: Option<Vec<String>> = None,
        /// Retry policy for this node; each key overrides the one in `recovery`.
        retry_policy: Option<RetryPolicyOverride> = None,
    }
}

section! {
    /// A per-node retry policy; absent keys come from `recovery`.
    pub struct RetryPolicyOverride {
        /// Attempts before the incident is escalated.
        max_attempts: Option<u32> = None,
        /// Delay before the second attempt.
        initial_delay_seconds: Option<Seconds> = None,
        /// Each further delay is the previous one times this.
        backoff_multiplier: Option<f64> = None,
        /// Upper bound of the delay between attempts.
        max_delay_seconds: Option<Seconds> = None,
    }
}

section! {
    /// How and how often nodes are probed.
    pub struct MonitoringConfig {
        /// Time between two regular probe rounds.
        interval_seconds: Seconds = 30.0,
        /// Time limit of one probe.
        timeout_seconds: Seconds = 10.0,
        /// Probe nodes in parallel (bounded by `system.max_concurrent_operations`).
        concurrent_checks: bool = true,
        /// Accepted for the runbook's templates. Failures are confirmed by fast
        /// re-probes 200 ms apart; how many is `failure_threshold`.
        health_check_retries: u32 = 3,
        /// Consecutive failed probes before a node is failed.
        failure_threshold: u32 = 3,
        /// Consecutive good probes before a failed node is healthy again.
        recovery_threshold: u32 = 2,
        /// Probes used for nodes that name none; empty means the role's defaults
        /// (brokers `[kafka_api, kafka_metadata]`, controllers `[kraft_quorum]`, ZooKeeper `[zookeeper]`).
        methods: Vec<String> = Vec::new(),
        /// Share of the nodes that must be failed at the same time for the daemon to
        /// suspect its own network ("isolated") rather than report the cluster down;
        /// 1.0 means every node.
        isolation_fraction: f64 = 1.0,
        /// When a node counts as flapping.
        flapping: FlappingConfig = FlappingConfig::default(),
        /// Times during which no recovery action runs (monitoring goes on).
        blackout_periods: Vec<BlackoutPeriod> = Vec::new(),
        /// The `socket` probe.
        socket: SocketConfig = SocketConfig::default(),
        /// The `jmx` probe.
        jmx: JmxConfig = JmxConfig::default(),
        /// The `zookeeper` probe.
        zookeeper: ZookeeperProbeConfig = ZookeeperProbeConfig::default(),
        /// The `http` probe.
        http: HttpProbeConfig = HttpProbeConfig::default(),
        /// The `command` probe (Nagios plugins and any `check_*` script).
        command: CommandProbeConfig = CommandProbeConfig::default(),
    }
}

section! {
    /// An HTTP health endpoint.
    pub struct HttpProbeConfig {
        /// URL requested for each node using `http`; `{host}`, `{port}`, `{node_id}`,
        /// `{node_type}`, `{broker_id}`, `{jmx_port}` are filled in. Redirects are not followed.
        url: Option<String> = None,
        /// The status code that means healthy.
        expected_status: u16 = 200,
        /// Text the body must contain, if any.
        body_contains: Option<String> = None,
    }
}

section! {
    /// An executable following the Nagios plugin convention.
    pub struct CommandProbeConfig {
        /// Run with `sh -c` for each node using `command`; placeholders as for `http.url`,
        /// each value single-quoted. The environment has `KAFKA_NODE_ID`, `KAFKA_HOST`,
        /// `KAFKA_PORT`, `KAFKA_NODE_TYPE`. Exit 0 healthy, 1 degraded, 2 failed, other unknown.
        command: Option<String> = None,
        /// Time limit; `monitoring.timeout_seconds` when absent. A check that runs longer is killed
        /// (with everything it started) and counts as unknown.
        timeout: Option<Seconds> = None,
    }
}

section! {
    /// Flap detection.
    pub struct FlappingConfig {
        /// The window in which changes into and out of `failed` are counted.
        window_seconds: Seconds = 600.0,
        /// More changes than this within the window mark the node as flapping.
        max_changes: u32 = 4,
    }
}

section! {
    /// A weekly window in which recovery actions are held back.
    pub struct BlackoutPeriod {
        /// Start, `HH:MM`, 24-hour clock.
        start_time: TimeOfDay,
        /// End, `HH:MM`; earlier than `start_time` means the window crosses midnight.
        end_time: TimeOfDay,
        /// Days the window starts on (`mon` … `sun`); empty means every day.
        days: Vec<Weekday> = Vec::new(),
        /// `utc` or `local` (the daemon host's time zone).
        timezone: Timezone = Timezone::Utc,
    }
}

section! {
    /// The TCP connect probe.
    pub struct SocketConfig {
        /// Time limit to establish the connection.
        connection_timeout: Seconds = 5.0,
        /// Time limit to read an answer, for probes that read one.
        read_timeout: Seconds = 10.0,
    }
}

section! {
    /// Reading broker MBeans.
    pub struct JmxConfig {
        /// Time limit to connect to the JMX endpoint.
        connection_timeout: Seconds = 10.0,
        /// Time limit to read the MBeans.
        read_timeout: Seconds = 15.0,
        /// Send a username and password.
        authentication: bool = false,
        /// JMX user; defaults to the environment variable `JMX_USERNAME`.
        username: Option<String> = None,
        /// JMX password; defaults to the environment variable `JMX_PASSWORD`.
        password: Option<Secret> = None,
        /// Extra MBean attributes to read: `MBEAN[::ATTRIBUTE] [OP NUMBER]`, e.g.
        /// `kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions > 0`
        /// (attribute `Value` by default; OP one of `>`, `>=`, `<`, `<=`, `==`, `!=`;
        /// a crossed threshold makes the node `degraded`).
        metrics_to_check: Vec<String> = Vec::new(),
        /// How to reach the MBeans: `rmi` (JMX/RMI on the node's `jmx_port`, through
        /// the bundled Java bridge), `jolokia` or `prometheus` (HTTP, at `url`).
        transport: JmxTransport = JmxTransport::Rmi,
        /// URL of the Jolokia agent or Prometheus exporter; `{host}`, `{jmx_port}`,
        /// `{node_id}`, `{broker_id}` are filled in. Default
        /// `http://{host}:{jmx_port}/jolokia/` or `http://{host}:{jmx_port}/metrics`.
        url: Option<String> = None,
        /// The JMX/RMI bridge jar; by default `jmx-bridge.jar` next to the binary
        /// (or one directory up), then `/usr/share/kafka-self-healing/jmx-bridge.jar`.
        bridge_jar: Option<String> = None,
        /// The `java` (Java 11 or newer) that runs the bridge.
        java: String = "java",
    }
}

section! {
    /// The ZooKeeper probe.
    pub struct ZookeeperProbeConfig {
        /// Four-letter words to send; `srvr` alone works on a default ZooKeeper ≥ 3.5.
        four_letter_words: Vec<String> = ["ruok", "srvr", "mntr"],
        /// Time limit of one four-letter-word exchange.
        timeout: Seconds = 10.0,
    }
}

section! {
    /// Retry policy and recovery actions.
    pub struct RecoveryConfig {
        /// Attempts before an incident is escalated.
        max_attempts: u32 = 5,
        /// Delay before the second attempt (the first runs at once).
        initial_delay_seconds: Seconds = 10.0,
        /// Each further delay is the previous one times this.
        backoff_multiplier: f64 = 2.0,
        /// Upper bound of the delay between attempts.
        max_delay_seconds: Seconds = 600.0,
        /// The ladder: attempt n uses step n; the last step repeats.
        actions: Vec<String> = ["restart_service"],
        /// Ladder and retry policy per node type; a node's own `recovery_actions`
        /// and `retry_policy` override these, which override the keys above.
        node_types: NodeTypesRecovery = NodeTypesRecovery::default(),
        /// The `restart_service` action.
        restart_service: RestartServiceConfig = RestartServiceConfig::default(),
        /// The `ansible` action.
        ansible: AnsibleConfig = AnsibleConfig::default(),
        /// The `script` action.
        script: ScriptConfig = ScriptConfig::default(),
        /// The `ssh` action and SSH transport of `restart_service`.
        ssh: SshConfig = SshConfig::default(),
        /// The `salt` action.
        salt: SaltConfig = SaltConfig::default(),
        /// The `restart_container` action.
        restart_container: ContainerConfig = ContainerConfig::default(),
        /// The `docker_compose` action.
        docker_compose: ComposeConfig = ComposeConfig::default(),
        /// The `restart_pod`, `kubectl_exec` and `scale_statefulset` actions.
        kubernetes: KubernetesConfig = KubernetesConfig::default(),
        /// The `http` action: an orchestration webhook.
        http: HttpActionConfig = HttpActionConfig::default(),
        /// When an attempt counts as a success.
        recovery_validation: ValidationConfig = ValidationConfig::default(),
        /// Disruptive actions running at once in the cluster (never two ZooKeeper
        /// nodes or two controllers at once, whatever this says).
        max_parallel: u32 = 1,
        /// Share of the nodes failed at once above which nothing is done and the
        /// event is escalated ("network or data-centre event suspected").
        max_failed_fraction: f64 = 0.4,
        /// Attempts started in the cluster per rolling hour, at most.
        max_actions_per_hour: u32 = 20,
        /// A node that fails again within this long of its last recovery is a
        /// repeat: its first restart waits the retry policy's delay for the
        /// repeat (`initial_delay_seconds` × `backoff_multiplier`^(k−1) for the
        /// k-th repeat in a row, at most `max_delay_seconds`), told once by an
        /// `on_failed_again` notification; the repeat that reaches
        /// `max_attempts`, or one that flaps, is escalated at once.
        cooldown_seconds: Seconds = 300.0,
        /// An incident a guard holds back this long (a quorum or ISR that does
        /// not come back, facts that cannot be had, the hourly budget) is
        /// escalated, naming the guard and why. Operator holds (pause,
        /// maintenance, blackout) are exempt: they end by themselves.
        guard_wait_escalate_seconds: Seconds = 300.0,
        /// A broker that stopped cleanly (ZooKeeper mode: its registration removed
        /// within 3 s of its port closing; KRaft: fenced by the controller within
        /// 3 s — a controlled shutdown, not a crash) is in maintenance this long;
        /// still down after it, it is an incident.
        planned_restart_grace_seconds: Seconds = 600.0,
        /// ZooKeeper mode: a crashed broker's registration (`/brokers/ids/N`)
        /// outlives it by its ZooKeeper session timeout (18 s by default), and
        /// Kafka refuses to start while it exists. A restart waits for it to go,
        /// at most this long, instead of starting into that failure.
        stale_registration_wait_seconds: Seconds = 40.0,
        /// A broker whose JVM answers and says (BrokerState over `jmx`) it is
        /// starting or replaying its logs after an unclean shutdown is left to
        /// finish: no action while its state keeps changing within this time. The
        /// same state for longer is a stall, and the ladder goes on.
        log_recovery_stall_seconds: Seconds = 1800.0,
        /// A broker that serves again is not recovered until it is back in the
        /// ISR of every partition it hosts (read from a peer's metadata). Still
        /// behind after this long, a notification names the partitions and the
        /// incident stays open as degraded until it catches up. 0: the incident
        /// closes as soon as the broker serves.
        isr_catch_up_timeout_seconds: SecondsOrZero = 600.0,
        /// Once a recovered broker is back in sync, a preferred-leader election
        /// (ElectLeaders, PREFERRED) moves back the partitions it should lead,
        /// instead of waiting for Kafka's own rebalance
        /// (`leader.imbalance.check.interval.seconds`, 300 s by default).
        restore_leadership: bool = true,
        /// No restart of a broker that is still running while partitions are
        /// short of another replica: `cluster` (any such partition in the
        /// cluster, a broker still catching up included), `shared` (only those
        /// it is in sync for), `off`. Partitions short only of the broker
        /// itself never hold it back; a dead broker is never held back.
        running_broker_gate: RunningBrokerGate = RunningBrokerGate::Cluster,
    }
}

closed_set! {
    /// The coordination backend of the election.
    pub enum HaBackend ("unknown high-availability backend") {
        Etcd = "etcd",
        Zookeeper = "zookeeper",
    }
}

closed_set! {
    /// Which under-replicated partitions hold back the restart of a running broker.
    pub enum RunningBrokerGate ("unknown running broker gate") {
        Cluster = "cluster",
        Shared = "shared",
        Off = "off",
    }
}

section! {
    /// Recovery settings per node type.
    pub struct NodeTypesRecovery {
        /// Kafka brokers.
        kafka_broker: NodeTypeRecovery = NodeTypeRecovery::default(),
        /// KRaft controllers.
        kraft_controller: NodeTypeRecovery = NodeTypeRecovery::default(),
        /// ZooKeeper servers.
        zookeeper: NodeTypeRecovery = NodeTypeRecovery::default(),
    }
}

section! {
    /// The ladder and retry policy of one node type; absent keys come from `recovery`.
    pub struct NodeTypeRecovery {
        /// The ladder for this node type.
        actions: Option<Vec<String>> = None,
        /// Attempts before an incident is escalated.
        max_attempts: Option<u32> = None,
        /// Delay before the second attempt.
        initial_delay_seconds: Option<Seconds> = None,
        /// Each further delay is the previous one times this.
        backoff_multiplier: Option<f64> = None,
        /// Upper bound of the delay between attempts.
        max_delay_seconds: Option<Seconds> = None,
    }
}

section! {
    /// When a recovery attempt counts as a success.
    pub struct ValidationConfig {
        /// After the action exits 0, the node must pass its probes
        /// (`monitoring.recovery_threshold` rounds in a row) within this time.
        timeout_seconds: Seconds = 180.0,
        /// Time between two validation probes (at least 0.1).
        interval_seconds: Seconds = 0.2,
    }
}

section! {
    /// Restarting through SaltStack.
    pub struct SaltConfig {
        /// `salt` (through the master) or `salt-ssh`.
        command: String = "salt",
        /// Minion target; placeholders such as `{host}` and `{node_id}` are filled in.
        target: String = "{host}",
        /// `service.restart` (the unit from `restart_service`) or `state.apply`.
        function: SaltFunction = SaltFunction::ServiceRestart,
        /// State to apply with `state.apply`.
        state: Option<String> = None,
        /// Time limit of one run.
        timeout: Seconds = 300.0,
    }
}

section! {
    /// Restarting a container.
    pub struct ContainerConfig {
        /// `docker` or `podman`.
        runtime: ContainerRuntime = ContainerRuntime::Docker,
        /// Container name; placeholders such as `{node_id}` are filled in.
        container: String = "{node_id}",
        /// Time limit of one restart.
        timeout: Seconds = 120.0,
    }
}

section! {
    /// Restarting a Docker Compose service.
    pub struct ComposeConfig {
        /// The compose file (`-f`).
        file: Option<String> = None,
        /// Service name; placeholders such as `{node_id}` are filled in.
        service: String = "{node_id}",
        /// Time limit of one restart.
        timeout: Seconds = 180.0,
    }
}

section! {
    /// Acting through kubectl.
    pub struct KubernetesConfig {
        /// The kubectl binary.
        kubectl: String = "kubectl",
        /// `--context`, when not the current one.
        context: Option<String> = None,
        /// Namespace of the pods.
        namespace: String = "default",
        /// Pod name; placeholders such as `{node_id}` and `{broker_id}` are filled in.
        pod: String = "{node_id}",
        /// Command run by `kubectl_exec` in the pod (one argument per item).
        exec_command: Vec<String> = Vec::new(),
        /// StatefulSet scaled by `scale_statefulset`.
        statefulset: Option<String> = None,
        /// Replicas `scale_statefulset` sets.
        replicas: u32 = 3,
        /// Time limit of one kubectl run.
        timeout: Seconds = 120.0,
    }
}

section! {
    /// Calling an orchestration webhook.
    pub struct HttpActionConfig {
        /// URL; placeholders such as `{node_id}` are filled in. A JSON body with the
        /// node, incident and attempt is POSTed.
        url: Option<String> = None,
        /// Extra request headers.
        headers: BTreeMap<String, String> = BTreeMap::new(),
        /// Time limit of the call.
        timeout: Seconds = 30.0,
    }
}

section! {
    /// Restarting the node's service with its service manager.
    pub struct RestartServiceConfig {
        /// `systemctl` or `service`.
        service_manager: ServiceManager = ServiceManager::Systemctl,
        /// Unit of Kafka brokers.
        kafka_service_name: String = "kafka",
        /// Unit of KRaft controllers.
        kraft_controller_service_name: String = "kafka",
        /// Unit of ZooKeeper servers.
        zookeeper_service_name: String = "zookeeper",
        /// Prefix the command with `sudo -n`.
        use_sudo: bool = false,
        /// Time limit of the restart command.
        timeout: Seconds = 60.0,
        /// While systemd itself restarts a crashed unit (`Restart=on-failure`:
        /// the unit is `activating`), no second restart is started on top; after
        /// this long the ladder acts anyway.
        systemd_wait_seconds: Seconds = 120.0,
        /// Commands run before the restart; a failing one aborts the attempt.
        pre_restart_commands: Vec<String> = Vec::new(),
        /// Commands run after a successful restart.
        post_restart_commands: Vec<String> = Vec::new(),
    }
}

section! {
    /// Running an Ansible playbook against the failed node.
    pub struct AnsibleConfig {
        /// Directory holding the playbooks.
        playbook_directory: String = "/opt/kafka-recovery/playbooks",
        /// Playbook file per node type (`kafka_broker`, `kraft_controller`, `zookeeper`, `default`).
        playbooks: BTreeMap<String, String> = BTreeMap::new(),
        /// Inventory passed with `-i`.
        inventory_file: Option<String> = None,
        /// Vault password file passed with `--vault-password-file`.
        vault_password_file: Option<String> = None,
        /// Time limit of one playbook run.
        timeout: Seconds = 300.0,
        /// Extra variables, merged with the node's facts and passed as JSON.
        extra_vars: BTreeMap<String, serde_json::Value> = BTreeMap::new(),
    }
}

section! {
    /// Running an operator's script.
    pub struct ScriptConfig {
        /// Directory holding the scripts.
        script_directory: String = "/opt/kafka-recovery/scripts",
        /// Script file per node type (`kafka_broker`, `kraft_controller`, `zookeeper`, `default`);
        /// without an entry, `<node_type>.sh` then `default.sh`.
        scripts: BTreeMap<String, String> = BTreeMap::new(),
        /// Time limit of one script run.
        timeout: Seconds = 120.0,
        /// Added to the script's environment.
        environment_variables: BTreeMap<String, String> = BTreeMap::new(),
    }
}

section! {
    /// Reaching a node's host over SSH (the system `ssh`, its keys and known_hosts).
    pub struct SshConfig {
        /// Remote user; the ssh default when absent.
        user: Option<String> = None,
        /// SSH port.
        port: u16 = 22,
        /// Private key passed with `-i`.
        identity_file: Option<String> = None,
        /// Extra `-o` options, e.g. `StrictHostKeyChecking=yes`.
        options: Vec<String> = Vec::new(),
        /// Command run by the `ssh` action; placeholders such as `{node_id}` are filled in.
        command: Option<String> = None,
        /// Time limit of one SSH command.
        timeout: Seconds = 60.0,
        /// How long ssh waits for the host to answer (`-o ConnectTimeout=`): a
        /// host that is powered off or cut off is "host unreachable" after this
        /// long, not at the command's time limit.
        connect_timeout: Seconds = 10.0,
    }
}

section! {
    /// Where and when people are told.
    pub struct NotificationsConfig {
        /// Email.
        smtp: Option<SmtpConfig> = None,
        /// Slack incoming webhook.
        slack: Option<SlackConfig> = None,
        /// Microsoft Teams incoming webhook.
        teams: Option<TeamsConfig> = None,
        /// Generic JSON POST.
        webhook: Option<WebhookConfig> = None,
        /// PagerDuty Events API v2.
        pagerduty: Option<PagerDutyConfig> = None,
        /// Prometheus Alertmanager.
        alertmanager: Option<AlertmanagerConfig> = None,
        /// An executable that reads the notification as JSON on stdin.
        command: Option<CommandNotifierConfig> = None,
        /// Retrying deliveries from the durable outbox.
        delivery: DeliveryConfig = DeliveryConfig::default(),
        /// Subject and body per trigger (minijinja), for every channel.
        templates: TriggerTemplates = TriggerTemplates::default(),
        /// Notifications of one trigger within this time are sent as one message
        /// (email, Slack, Teams, webhook, command; PagerDuty and Alertmanager keep
        /// one alert per incident). 0 sends each at once.
        group_wait_seconds: SecondsOrZero = 5.0,
        /// Which events produce a notification.
        triggers: TriggersConfig = TriggersConfig::default(),
        /// Limits on how many notifications are sent.
        rate_limiting: RateLimitConfig = RateLimitConfig::default(),
        /// A signal every interval while the healer runs: people learn when none does.
        dead_mans_switch: DeadMansSwitchConfig = DeadMansSwitchConfig::default(),
    }
}

section! {
    /// Email through an SMTP server.
    pub struct SmtpConfig {
        /// SMTP server.
        host: String,
        /// SMTP port (587 submission with STARTTLS, 465 implicit TLS, 25 plain).
        port: u16 = 587,
        /// Login; defaults to the environment variable `SMTP_USERNAME`.
        username: Option<String> = None,
        /// Password; defaults to the environment variable `SMTP_PASSWORD`.
        password: Option<Secret> = None,
        /// Upgrade the connection with STARTTLS.
        use_tls: bool = true,
        /// Connect with implicit TLS (SMTPS). Not together with `use_tls`.
        use_ssl: bool = false,
        /// Sender address.
        from_email: String = "kafka-self-healing@localhost",
        /// Recipients.
        to_emails: Vec<String> = Vec::new(),
        /// Copy recipients.
        cc_emails: Vec<String> = Vec::new(),
        /// Blind copy recipients.
        bcc_emails: Vec<String> = Vec::new(),
        /// Time limit of one delivery.
        timeout: Seconds = 30.0,
        /// PEM CA certificate(s) to trust for the server's TLS certificate, in
        /// addition to the system's (an internal relay with its own CA).
        ca_file: Option<String> = None,
        /// Subject lines; `{node_id}`, `{cluster}` and other placeholders are filled in.
        templates: SmtpTemplates = SmtpTemplates::default(),
        /// Which notifications go here.
        routing: Routing = Routing::default(),
    }
}

section! {
    /// Subject and body templates per trigger; unset ones use the built-in wording.
    pub struct TriggerTemplates {
        /// A node was confirmed failed.
        on_failure_detected: MessageTemplate = MessageTemplate::default(),
        /// A recovery attempt failed.
        on_recovery_failure: MessageTemplate = MessageTemplate::default(),
        /// A node recovered.
        on_recovery_success: MessageTemplate = MessageTemplate::default(),
        /// The incident is escalated.
        on_max_retries_exceeded: MessageTemplate = MessageTemplate::default(),
        /// A cluster-wide event stops every action.
        on_isolation: MessageTemplate = MessageTemplate::default(),
    }
}

section! {
    /// One trigger's subject and body. minijinja syntax (`{{ node }}`,
    /// `{% for a in attempts %}`); the runbook's `{node_id}` placeholders work in subjects.
    pub struct MessageTemplate {
        /// Subject line.
        subject: Option<String> = None,
        /// Body text; `{{ default_body }}` is the built-in body.
        body: Option<String> = None,
    }
}

section! {
    /// Which notifications a channel receives.
    pub struct Routing {
        /// Triggers this channel receives (`on_max_retries_exceeded`, …); empty means every enabled trigger.
        triggers: Vec<Trigger> = Vec::new(),
        /// Node types this channel hears about (`kafka_broker`, `kraft_controller`, `zookeeper`); empty means all.
        node_types: Vec<Role> = Vec::new(),
    }
}

section! {
    /// A Slack incoming webhook.
    pub struct SlackConfig {
        /// The webhook URL (a secret: it authorises posting).
        webhook_url: Secret,
        /// Which notifications go here.
        routing: Routing = Routing::default(),
    }
}

section! {
    /// A Microsoft Teams incoming webhook.
    pub struct TeamsConfig {
        /// The webhook URL (a secret).
        webhook_url: Secret,
        /// Which notifications go here.
        routing: Routing = Routing::default(),
    }
}

section! {
    /// A generic JSON POST.
    pub struct WebhookConfig {
        /// Where to POST.
        url: String,
        /// When set, the body is signed: header `X-Signature-256: sha256=<hex HMAC-SHA256>`.
        secret: Option<Secret> = None,
        /// Extra request headers.
        headers: BTreeMap<String, String> = BTreeMap::new(),
        /// Which notifications go here.
        routing: Routing = Routing::default(),
    }
}

section! {
    /// PagerDuty Events API v2: one alert per incident (dedup key = incident id), resolved on recovery.
    pub struct PagerDutyConfig {
        /// The integration's routing key.
        routing_key: Secret,
        /// Events endpoint.
        events_url: String = "https://events.pagerduty.com/v2/enqueue",
        /// Which notifications go here.
        routing: Routing = Routing::default(),
    }
}

section! {
    /// Prometheus Alertmanager: one alert per incident, resolved (`endsAt`) on recovery.
    pub struct AlertmanagerConfig {
        /// Alertmanager's base URL; alerts go to `/api/v2/alerts`.
        url: String,
        /// Extra labels on every alert.
        labels: BTreeMap<String, String> = BTreeMap::new(),
        /// Which notifications go here.
        routing: Routing = Routing::default(),
    }
}

section! {
    /// An executable given each notification as JSON on stdin; exit 0 means delivered.
    pub struct CommandNotifierConfig {
        /// The executable (no shell).
        command: String,
        /// Its arguments.
        args: Vec<String> = Vec::new(),
        /// Time limit of one run.
        timeout: Seconds = 30.0,
        /// Which notifications go here.
        routing: Routing = Routing::default(),
    }
}

section! {
    /// Retrying deliveries from the durable outbox.
    pub struct DeliveryConfig {
        /// Delay after a channel's first failed delivery; it doubles per failure.
        initial_backoff_seconds: Seconds = 1.0,
        /// Longest delay between two tries.
        max_backoff_seconds: Seconds = 300.0,
        /// A notification not delivered after this long is dropped (and logged as an error).
        give_up_after_hours: f64 = 72.0,
        /// Time limit of one HTTP delivery.
        timeout: Seconds = 15.0,
    }
}

section! {
    /// Email subject templates.
    pub struct SmtpTemplates {
        /// Subject of a failed recovery attempt.
        failure_subject: String = "[CRITICAL] {node_id} Recovery Failed",
        /// Subject of a successful recovery.
        recovery_subject: String = "[RESOLVED] {node_id} Recovered",
        /// Subject of an escalation (attempts exhausted or a guard refused).
        escalation_subject: String = "[ESCALATION] {node_id} needs a human",
    }
}

section! {
    /// Which events produce a notification.
    pub struct TriggersConfig {
        /// A node was confirmed failed.
        on_failure_detected: bool = false,
        /// A recovery attempt failed.
        on_recovery_failure: bool = false,
        /// A node recovered.
        on_recovery_success: bool = true,
        /// A node failed again within `recovery.cooldown_seconds` of recovering:
        /// when it is restarted (after a delay that grows with each repeat).
        on_failed_again: bool = true,
        /// A broker serves again but is still behind on some partitions after
        /// `recovery.isr_catch_up_timeout_seconds`.
        on_catch_up_timeout: bool = true,
        /// Attempts are exhausted; the incident is escalated.
        on_max_retries_exceeded: bool = true,
        /// The daemon cannot reach the cluster (its own network is suspected).
        on_isolation: bool = true,
        /// A broker answers here but its cluster does not count it (cut off
        /// from its peers), and again when it is back: never restarted.
        on_cut_off: bool = true,
        /// The daemon itself has a problem (state store, plugin, configuration).
        on_system_error: bool = true,
        /// Latency or resource thresholds are exceeded.
        on_performance_degradation: bool = false,
        /// The configuration was reloaded with changes.
        on_configuration_change: bool = false,
    }
}

section! {
    /// Limits on notifications.
    pub struct RateLimitConfig {
        /// Per channel, per rolling hour; the rest is summarised in one message.
        max_notifications_per_hour: u32 = 20,
        /// Minimum time between two notifications about the same node and trigger.
        cooldown_period_minutes: f64 = 10.0,
        /// Failed attempts after which an incident is escalated to the escalation subject.
        escalation_threshold: u32 = 3,
    }
}

section! {
    /// The daemon's logs.
    pub struct LoggingConfig {
        /// `TRACE`, `DEBUG`, `INFO`, `WARNING`, `ERROR` (Python's `WARN` and `CRITICAL` are accepted).
        level: LogLevel = LogLevel::Info,
        /// Application log; empty for console only.
        file: Option<String> = "/var/log/kafka-self-healing/application.log",
        /// Size at which the file is rotated.
        max_size_mb: u64 = 100,
        /// Rotated files kept.
        backup_count: u32 = 10,
        /// `text` or `json`; a Python `%(...)s` format is accepted and read as `text`.
        format: LogFormat = LogFormat::Text,
        /// The audit trail of every decision (JSON lines).
        audit: AuditLogConfig = AuditLogConfig::default(),
        /// Slow operations and timings.
        performance: PerformanceLogConfig = PerformanceLogConfig::default(),
    }
}

section! {
    /// The audit trail.
    pub struct AuditLogConfig {
        /// Write the audit file.
        enabled: bool = true,
        /// Audit file.
        file: String = "/var/log/kafka-self-healing/audit.log",
        /// Size at which the file is rotated.
        max_size_mb: u64 = 200,
        /// Rotated files kept.
        backup_count: u32 = 20,
        /// Accepted for the runbook's templates; secrets are never written whatever it says.
        include_sensitive_data: bool = false,
    }
}

section! {
    /// The performance log.
    pub struct PerformanceLogConfig {
        /// Write the performance file.
        enabled: bool = true,
        /// Performance file.
        file: String = "/var/log/kafka-self-healing/performance.log",
        /// Log operations slower than the threshold.
        log_slow_operations: bool = true,
        /// What counts as slow.
        slow_operation_threshold_ms: u64 = 2000,
    }
}

section! {
    /// How the daemon authenticates to Kafka.
    pub struct SecurityConfig {
        /// Where secrets come from.
        credentials: CredentialsConfig = CredentialsConfig::default(),
        /// TLS to the brokers.
        ssl: SslConfig = SslConfig::default(),
        /// SASL to the brokers.
        sasl: SaslConfig = SaslConfig::default(),
    }
}

section! {
    /// Where secrets come from.
    pub struct CredentialsConfig {
        /// `environment`: secrets come from environment variables (the only method).
        storage_method: StorageMethod = StorageMethod::Environment,
        /// Accepted for the runbook's templates; not used.
        encryption_key_file: Option<String> = None,
    }
}

section! {
    /// TLS to Kafka listeners.
    pub struct SslConfig {
        /// Use TLS.
        enabled: bool = false,
        /// PKCS#12 keystore with the client certificate (mutual TLS).
        keystore_path: Option<String> = None,
        /// Environment variable holding the keystore password.
        keystore_password_env: String = "KEYSTORE_PASSWORD",
        /// PKCS#12 truststore with the CA certificates.
        truststore_path: Option<String> = None,
        /// Environment variable holding the truststore password.
        truststore_password_env: String = "TRUSTSTORE_PASSWORD",
        /// PEM file with CA certificates (instead of a truststore).
        ca_file: Option<String> = None,
        /// PEM client certificate (instead of a keystore).
        cert_file: Option<String> = None,
        /// PEM private key of `cert_file`.
        key_file: Option<String> = None,
        /// Lowest TLS version: `TLSv1.2` or `TLSv1.3`.
        protocol: String = "TLSv1.2",
        /// Check that the broker's certificate names the host.
        verify_hostname: bool = true,
    }
}

section! {
    /// SASL to Kafka listeners.
    pub struct SaslConfig {
        /// Use SASL.
        enabled: bool = false,
        /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
        mechanism: SaslMechanism = SaslMechanism::ScramSha256,
        /// Environment variable holding the user name.
        username_env: String = "KAFKA_USERNAME",
        /// Environment variable holding the password.
        password_env: String = "KAFKA_PASSWORD",
    }
}

section! {
    /// Plugins.
    pub struct PluginsConfig {
        /// Finding external plugins.
        discovery: PluginDiscoveryConfig = PluginDiscoveryConfig::default(),
        /// Monitoring plugins by name.
        monitoring_plugins: BTreeMap<String, PluginEntry> = BTreeMap::new(),
        /// Recovery plugins by name.
        recovery_plugins: BTreeMap<String, PluginEntry> = BTreeMap::new(),
        /// Notification plugins by name.
        notification_plugins: BTreeMap<String, PluginEntry> = BTreeMap::new(),
    }
}

section! {
    /// Finding external plugins.
    pub struct PluginDiscoveryConfig {
        /// Look for external plugins.
        enabled: bool = true,
        /// Directories searched (each with `monitoring/`, `recovery/`, `notification/` or plugins directly).
        directories: Vec<String> = ["/opt/kafka-self-healing/plugins"],
        /// Load discovered plugins without listing them here.
        auto_load: bool = true,
    }
}

section! {
    /// One plugin's switch, order and settings.
    pub struct PluginEntry {
        /// Use the plugin.
        enabled: bool = true,
        /// Lower runs first.
        priority: i32 = 100,
        /// Passed to the plugin as is.
        config: serde_json::Value = serde_json::Value::Null,
    }
}

section! {
    /// The daemon itself.
    pub struct SystemConfig {
        /// Probes, actions and deliveries running at once.
        max_concurrent_operations: u32 = 20,
        /// Above this resident memory the daemon sheds optional work.
        memory_limit_mb: u64 = 1024,
        /// CPU use above which the daemon reports itself degraded.
        cpu_limit_percent: f64 = 75.0,
        /// Time allowed for a graceful stop.
        shutdown_timeout_seconds: Seconds = 60.0,
        /// Directory of the state store (`state.db`).
        state_dir: String = "/var/lib/kafka-self-healing",
        /// The daemon watching its own resources.
        self_monitoring: SelfMonitoringConfig = SelfMonitoringConfig::default(),
        /// The HTTP endpoint for metrics, health and the API.
        metrics: MetricsConfig = MetricsConfig::default(),
        /// Who may change things through the HTTP API.
        api: ApiConfig = ApiConfig::default(),
    }
}

section! {
    /// Who may change things through the HTTP API.
    pub struct ApiConfig {
        /// File holding the bearer token that `POST /api/v1/...` requires
        /// (`Authorization: Bearer TOKEN`). Without it the API is read-only.
        token_file: Option<String> = None,
    }
}

section! {
    /// The daemon watching its own resources.
    pub struct SelfMonitoringConfig {
        /// Sample memory, CPU and disk.
        enabled: bool = true,
        /// Time between samples.
        interval_seconds: Seconds = 30.0,
        /// Resident memory that is reported as too high.
        memory_threshold_mb: u64 = 800,
        /// CPU use that is reported as too high.
        cpu_threshold_percent: f64 = 60.0,
        /// Use of the state and log disks that is reported as too high.
        disk_threshold_percent: f64 = 85.0,
    }
}

section! {
    /// The HTTP endpoint.
    pub struct MetricsConfig {
        /// Serve HTTP: metrics, health, the API and the status page.
        enabled: bool = true,
        /// Port.
        port: u16 = 8080,
        /// Address to listen on; `127.0.0.1` keeps it on the host.
        bind_address: String = "0.0.0.0",
        /// Path of the Prometheus metrics.
        endpoint: String = "/metrics",
        /// `prometheus` (text exposition format).
        format: MetricsFormat = MetricsFormat::Prometheus,
        /// The probe-latency histogram's labels: `node` (a histogram per node
        /// and method, 15 series each) or `role` (one per role and method, however
        /// many nodes; each node keeps its last latency as a gauge). `role`
        /// bounds a large fleet's scrape: see docs/operations.md.
        latency_labels: LatencyLabels = LatencyLabels::Node,
    }
}

closed_set! {
    /// The labels of the probe-latency histogram.
    pub enum LatencyLabels ("unknown latency labels") {
        Node = "node",
        Role = "role",
    }
}

closed_set! {
    /// How `restart_service` restarts a unit.
    pub enum ServiceManager ("unknown service manager") {
        Systemctl = "systemctl",
        Service = "service",
    }
}

closed_set! {
    /// What the `salt` action runs on the minion.
    pub enum SaltFunction ("unknown salt function") {
        ServiceRestart = "service.restart",
        StateApply = "state.apply",
    }
}

closed_set! {
    /// The container runtime of `restart_container`.
    pub enum ContainerRuntime ("unknown container runtime") {
        Docker = "docker",
        Podman = "podman",
    }
}

closed_set! {
    /// How the `jmx` method reaches the MBeans.
    pub enum JmxTransport ("unknown JMX transport") {
        Rmi = "rmi",
        Jolokia = "jolokia",
        Prometheus = "prometheus",
    }
}

closed_set! {
    /// Where secrets come from.
    pub enum StorageMethod ("unknown credentials storage method") {
        Environment = "environment",
    }
}

closed_set! {
    /// The SASL mechanisms the Kafka client speaks.
    pub enum SaslMechanism ("unsupported SASL mechanism") {
        Plain = "PLAIN",
        ScramSha256 = "SCRAM-SHA-256",
        ScramSha512 = "SCRAM-SHA-512",
    }
}

closed_set! {
    /// The least severe lines logged (the runbook's Python names are accepted).
    pub enum LogLevel ("unknown log level") {
        Trace = "TRACE",
        Debug = "DEBUG",
        Info = "INFO",
        Warning = "WARNING" | "WARN",
        Error = "ERROR" | "CRITICAL" | "FATAL",
        Off = "OFF",
    }
}

closed_set! {
    /// The exposition format of `/metrics`.
    pub enum MetricsFormat ("unknown metrics format") {
        Prometheus = "prometheus",
    }
}

closed_set! {
    /// The clock a blackout period is written in.
    pub enum Timezone ("unknown timezone") {
        Utc = "utc",
        /// The daemon host's time zone.
        Local = "local",
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

impl super::decode::Decode for LogFormat {
    fn decode(node: &super::yaml::Node, cx: &mut super::decode::Ctx) -> Option<Self> {
        let text = <String as super::decode::Decode>::decode(node, cx)?;
        match text.to_ascii_lowercase().as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            // The runbook's Python logging format: accepted, with a word.
            _ if text.contains("%(") => {
                cx.warning(
                    node.mark,
                    "a Python logging format string is not used by this implementation; lines are written in the `text` format",
                    "write `format: text` or `format: json` to silence this warning",
                );
                Some(LogFormat::Text)
            }
            _ => {
                cx.error(node.mark, format!("unknown log format `{text}`"), "write `text` or `json`");
                None
            }
        }
    }
}

closed_set! {
    /// What a notification is about (`notifications.triggers`, a channel's `routing.triggers`).
    pub enum Trigger ("unknown trigger") {
        /// A node was confirmed failed.
        FailureDetected = "on_failure_detected",
        /// A recovery attempt failed.
        RecoveryFailure = "on_recovery_failure",
        /// A node recovered.
        RecoverySuccess = "on_recovery_success",
        /// A node failed again soon after it recovered.
        FailedAgain = "on_failed_again",
        /// A broker serves again but did not catch up on its partitions in time.
        CatchUpTimeout = "on_catch_up_timeout",
        /// Attempts are exhausted, or a guard held too long: escalated.
        MaxRetriesExceeded = "on_max_retries_exceeded",
        /// Isolation or mass failure.
        Isolation = "on_isolation",
        /// A broker cut off from its cluster (and back).
        CutOff = "on_cut_off",
        /// The daemon itself cannot do its job.
        SystemError = "on_system_error",
        /// Latency or resource thresholds are exceeded.
        PerformanceDegradation = "on_performance_degradation",
        /// The configuration was reloaded.
        ConfigurationChange = "on_configuration_change",
    }
}
