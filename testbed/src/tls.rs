//! Certificates for the test bed's SASL_SSL listener, made with the operator's
//! own tools: `openssl` for the CA and PEM files, `keytool` for the Java-style
//! PKCS#12 truststore.
//!
//! Owns: one throw-away CA per cluster, the broker's keystore and truststore,
//! and a client certificate in PEM and PKCS#12 form.
//! Must never: be used outside tests and the test bed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Password of every store the test bed makes (they guard throw-away keys).
pub const STORE_PASSWORD: &str = "testbed-store-pw";

/// The files a secured test bed and its clients use.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TlsFiles {
    /// CA certificate (PEM).
    pub ca_pem: PathBuf,
    /// The CA in a PKCS#12 truststore, as `keytool -importcert` writes it.
    pub truststore_p12: PathBuf,
    /// Broker key and certificate (PKCS#12), valid for 127.0.0.1 and localhost.
    pub broker_p12: PathBuf,
    /// Client certificate and key (PEM).
    pub client_cert_pem: PathBuf,
    pub client_key_pem: PathBuf,
    /// Client key and certificate (PKCS#12).
    pub client_p12: PathBuf,
}

/// Makes a CA, a broker and a client certificate in `dir`.
pub fn generate(dir: &Path) -> anyhow::Result<TlsFiles> {
    std::fs::create_dir_all(dir)?;
    let f = |name: &str| dir.join(name);
    let files = TlsFiles {
        ca_pem: f("ca.pem"),
        truststore_p12: f("truststore.p12"),
        broker_p12: f("broker.p12"),
        client_cert_pem: f("client.pem"),
        client_key_pem: f("client.key"),
        client_p12: f("client.p12"),
    };
    let p = |path: &PathBuf| path.display().to_string();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=testbed-ca",
        "-keyout",
        &p(&f("ca.key")),
        "-out",
        &p(&files.ca_pem),
    ])?;
    for (who, subject, san) in [
        ("broker", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ("client", "/CN=kafka-self-healing", "extendedKeyUsage=clientAuth"),
    ] {
        let key = f(&format!("{who}.key"));
        let csr = f(&format!("{who}.csr"));
        let cert = f(&format!("{who}.pem"));
        let ext = f(&format!("{who}.ext"));
        std::fs::write(&ext, format!("{san}\n"))?;
        openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", &p(&key), "-out", &p(&csr)])?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            &p(&csr),
            "-CA",
            &p(&files.ca_pem),
            "-CAkey",
            &p(&f("ca.key")),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &p(&ext),
            "-out",
            &p(&cert),
        ])?;
        openssl(&[
            "pkcs12",
            "-export",
            "-in",
            &p(&cert),
            "-inkey",
            &p(&key),
            "-certfile",
            &p(&files.ca_pem),
            "-name",
            who,
            "-passout",
            &format!("pass:{STORE_PASSWORD}"),
            "-out",
            &p(&f(&format!("{who}.p12"))),
        ])?;
    }
    let out = Command::new("keytool")
        .args(["-importcert", "-noprompt", "-storetype", "PKCS12", "-alias", "testbed-ca", "-file"])
        .arg(&files.ca_pem)
        .arg("-keystore")
        .arg(&files.truststore_p12)
        .args(["-storepass", STORE_PASSWORD])
        .output()
        .context("cannot run keytool (part of the JDK)")?;
    if !out.status.success() {
        bail!(
            "keytool -importcert failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(files)
}

fn openssl(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("openssl").args(args).output().context("cannot run openssl")?;
    if !out.status.success() {
        bail!("openssl {} failed: {}", args.first().unwrap_or(&""), String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}
