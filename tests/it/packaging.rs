//! The files an operator installs: the systemd unit (checked by
//! `systemd-analyze verify`), the logrotate configuration (run by the real
//! `logrotate`), and the .deb package (built by cargo-deb, listed by `dpkg -c`,
//! installed and purged with `dpkg`).

use std::path::Path;
use std::process::Command;

use crate::support::{repo, run, stderr, stdout};

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(repo().join("scripts/kafka-self-healing.service")).unwrap();
    for directive in [
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillMode=mixed",
        "User=kafka-healing",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/kafka-self-healing /var/log/kafka-self-healing",
        "ExecStart=/usr/bin/kafka-self-healing run --config /etc/kafka-self-healing/config.yaml",
    ] {
        assert!(unit.contains(directive), "the unit lacks {directive}");
    }
    // verify checks that the binaries exist: point them at this build.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("kafka-self-healing.service");
    std::fs::write(&copy, unit.replace("/usr/bin/kafka-self-healing", env!("CARGO_BIN_EXE_kafka-self-healing")))
        .unwrap();
    let out = run(Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&copy));
    assert!(out.status.success(), "systemd-analyze verify failed");
    // Unknown or misspelt directives are only warnings for systemd: there must be none.
    assert_eq!(format!("{}{}", stdout(&out), stderr(&out)).trim(), "", "systemd-analyze has remarks");
}

#[test]
fn the_logrotate_configuration_rotates_like_the_daemon() {
    let conf = std::fs::read_to_string(repo().join("scripts/logrotate.conf")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    // The same file, on a test directory and as the user running the test.
    let me = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap().trim().to_string();
    let local = conf
        .replace("/var/log/kafka-self-healing", &logs.display().to_string())
        .replace("su kafka-healing kafka-healing", &format!("su {me} {me}"));
    let copy = dir.path().join("logrotate.conf");
    std::fs::write(&copy, local).unwrap();
    let state = dir.path().join("state");
    let out = run(Command::new("logrotate").arg("-d").arg("-s").arg(&state).arg(&copy));
    assert!(out.status.success());
    assert!(!stderr(&out).contains("error"), "logrotate -d reports an error");
    // A real, forced rotation: the names are the daemon's own (application.log.1.gz).
    let app = logs.join("application.log");
    std::fs::write(&app, "line\n".repeat(1000)).unwrap();
    let out = run(Command::new("logrotate").arg("-f").arg("-s").arg(&state).arg(&copy));
    assert!(out.status.success());
    let rotated = kafka_self_healing::logging::rotate::backup_path(&app, 1);
    assert!(rotated.exists(), "{} missing", rotated.display());
    assert_eq!(std::fs::metadata(&app).unwrap().len(), 0, "copytruncate leaves the daemon's file in place, empty");
}

/// `cargo deb` output for this tree (built once by testing/setup.sh's `package` step).
fn deb() -> std::path::PathBuf {
    let dir = repo().join("target/debian");
    let found = std::fs::read_dir(&dir)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"));
    found.unwrap_or_else(|| {
        panic!("no .deb in {}: build it with `testing/package.sh` (./test.sh does it first)", dir.display())
    })
}

#[test]
fn the_deb_puts_every_file_where_the_runbook_says_and_installs() {
    let deb = deb();
    let out = run(Command::new("dpkg").arg("-c").arg(&deb));
    assert!(out.status.success());
    let listing = stdout(&out);
    for path in [
        "./usr/bin/kafka-self-healing",
        "./etc/kafka-self-healing/config.yaml",
        "./etc/logrotate.d/kafka-self-healing",
        "kafka-self-healing.service",
        "./usr/share/kafka-self-healing/scripts/manual_health_check.sh",
        "./usr/share/kafka-self-healing/scripts/cluster_status.sh",
        "./usr/share/kafka-self-healing/scripts/send_manual_alert.sh",
        "./usr/share/kafka-self-healing/dashboards/kafka-self-healing-dashboard.json",
        "./usr/share/doc/kafka-self-healing/operations.md",
        "./usr/share/kafka-self-healing/jmx-bridge.jar",
        "./usr/share/man/man1/kafka-self-healing.1.gz",
        "./usr/share/man/man1/kafka-self-healing-notify-test.1.gz",
        "./usr/share/man/man1/kafka-self-healing-incidents-reset.1.gz",
        "./usr/share/bash-completion/completions/kafka-self-healing",
        "./usr/share/zsh/vendor-completions/_kafka-self-healing",
        "./usr/share/fish/vendor_completions.d/kafka-self-healing.fish",
    ] {
        assert!(listing.contains(path), "{path} is not in the package:\n{listing}");
    }
    let info = stdout(&run(Command::new("dpkg-deb").arg("--info").arg(&deb)));
    assert!(info.contains("Package: kafka-self-healing") && info.contains("adduser"), "{info}");
    // HTTPS channels need the system's CA certificates.
    let depends = info.lines().find(|l| l.trim_start().starts_with("Depends:")).unwrap_or_default();
    assert!(depends.contains("ca-certificates"), "{depends}");

    // Installed for real (as root), then purged: user, directories, unit.
    assert_eq!(unsafe { libc::geteuid() }, 0, "installing the .deb needs root (CI runs as root)");
    let _ = Command::new("dpkg").args(["--purge", "kafka-self-healing"]).output();
    let out = run(Command::new("dpkg").arg("-i").arg(&deb));
    struct Purge;
    impl Drop for Purge {
        fn drop(&mut self) {
            let _ = Command::new("dpkg").args(["--purge", "kafka-self-healing"]).output();
        }
    }
    let _purge = Purge;
    assert!(out.status.success(), "dpkg -i failed");
    let version = run(Command::new("/usr/bin/kafka-self-healing").arg("--version"));
    assert!(stdout(&version).starts_with("kafka-self-healing "));
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("kafka-healing:")), "the kafka-healing user exists");
    for dir in [
        "/var/lib/kafka-self-healing",
        "/var/log/kafka-self-healing",
        "/opt/kafka-self-healing/plugins/monitoring",
        "/opt/kafka-self-healing/plugins/recovery",
        "/opt/kafka-self-healing/plugins/notification",
    ] {
        assert!(Path::new(dir).is_dir(), "{dir} missing after install");
    }
    assert!(
        Path::new("/usr/lib/systemd/system/kafka-self-healing.service").exists()
            || Path::new("/lib/systemd/system/kafka-self-healing.service").exists()
    );
    // A man page for the command and each subcommand, rendered by man itself.
    for page in ["kafka-self-healing", "kafka-self-healing-notify-test", "kafka-self-healing-maintenance-start"] {
        let out =
            run(Command::new("man").arg("-l").arg(format!("/usr/share/man/man1/{page}.1.gz")).env("MANPAGER", "cat"));
        let text = stdout(&out);
        assert!(out.status.success() && text.contains("SYNOPSIS"), "{page}: {text}");
        if page == "kafka-self-healing-maintenance-start" {
            assert!(text.contains("kafka-self-healing maintenance start") && text.contains("--for"), "{text}");
        }
    }
    // The bash completion loads and completes subcommands and options.
    let script = r#"source /usr/share/bash-completion/completions/kafka-self-healing
complete -p kafka-self-healing
function=$(complete -p kafka-self-healing | sed -E 's/.*-F ([^ ]+).*/\1/')
COMP_WORDS=(kafka-self-healing noti); COMP_CWORD=1
"$function" kafka-self-healing noti kafka-self-healing
echo "words: ${COMPREPLY[*]}"
COMP_WORDS=(kafka-self-healing notify-test --ch); COMP_CWORD=2
"$function" kafka-self-healing --ch notify-test
echo "options: ${COMPREPLY[*]}""#;
    let out = run(Command::new("bash").arg("-c").arg(script));
    let text = stdout(&out);
    assert!(out.status.success() && text.contains("words: notify-test"), "{text}{}", crate::support::stderr(&out));
    assert!(text.contains("options: --channel"), "{text}");
    // The fish completion: fish itself completes a subcommand and an option.
    let out = run(Command::new("fish").arg("-c").arg(
        "source /usr/share/fish/vendor_completions.d/kafka-self-healing.fish; \
         complete -C 'kafka-self-healing noti'; complete -C 'kafka-self-healing notify-test --ch'",
    ));
    let text = stdout(&out);
    assert!(out.status.success() && text.contains("notify-test\t") && text.contains("--channel\t"), "{text}");
    // The zsh completion, from the vendor directory zsh reads: an interactive
    // zsh (in a pseudo-terminal) completes `noti` + TAB on the command line.
    let zsh = r#"zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='> '; fpath=(/usr/share/zsh/vendor-completions \$fpath); autoload -Uz compinit; compinit -u; setopt nobeep"
zpty -w z "kafka-self-healing() { :; }"
zpty -wn z $'kafka-self-healing noti\t'
sleep 1
zpty -wn z $'\C-a\C-k echo COMPLETED\n'
sleep 0.5
out=''
while zpty -rt z line; do out+=$line; done
print -r -- "$out"
zpty -d z"#;
    let out = run(Command::new("zsh").arg("-f").arg("-c").arg(zsh));
    let text = stdout(&out);
    assert!(text.contains("COMPLETED"), "zsh did not run the driver: {text}");
    assert!(text.contains("kafka-self-healing notify-test"), "zsh did not complete `noti`: {text}");
    // The packaged example configuration is valid once its secrets are set.
    let out = run(Command::new("/usr/bin/kafka-self-healing")
        .args(["validate", "/etc/kafka-self-healing/config.yaml"])
        .envs(crate::cli::EXAMPLE_ENV.iter().copied()));
    assert!(out.status.success());
}

/// No container engine runs here: the Dockerfile is checked for what can go
/// wrong without one — every file it copies from the tree exists, and the
/// image starts the daemon the way the runbook does.
#[test]
fn the_dockerfile_copies_files_that_exist() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let copies: Vec<&str> = text.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from=")).collect();
    assert!(copies.len() >= 3, "{copies:?}");
    // `${NAME}` is its `ARG NAME=default`; build outputs (`target/…`) are the
    // image test's to check (it packs the ones testing/package.sh made).
    let arg = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("ARG {name}=")))
            .unwrap_or_else(|| panic!("the Dockerfile copies ${{{name}}} but has no `ARG {name}=…` default"))
            .to_string()
    };
    for line in copies {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for source in &parts[1..parts.len() - 1] {
            let source = match source.strip_prefix("${").and_then(|s| s.strip_suffix('}')) {
                Some(name) => arg(name),
                None => source.to_string(),
            };
            if source != "." && !source.starts_with("target/") {
                assert!(repo().join(&source).exists(), "the Dockerfile copies {source}, which is not in the tree");
            }
        }
    }
    assert!(text.contains("CMD [\"run\", \"--config\", \"/etc/kafka-self-healing/config.yaml\"]"));
    assert!(text.contains("EXPOSE 8080") && text.contains("USER kafka-healing"));
}
