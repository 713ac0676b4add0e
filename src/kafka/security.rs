//! How a connection to a Kafka listener is secured: TLS and SASL.
//!
//! Owns: turning `security.ssl` / `security.sasl` (and the environment
//! variables they name) into a rustls client configuration and SASL
//! credentials, once, at start-up — with errors that name the config key.
//! Must never: log or display a password, fall back to plaintext when TLS was
//! asked for, or accept a server certificate the CA does not vouch for.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::{SaslConfig, Secret, SecurityConfig, SslConfig};

/// TLS and SASL settings shared by every Kafka connection of the daemon.
#[derive(Clone, Default)]
pub struct Security {
    pub(super) tls: Option<Arc<rustls::ClientConfig>>,
    pub(super) sasl: Option<Sasl>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl.as_ref().map(|s| s.mechanism.as_str()))
            .finish()
    }
}

/// The SASL mechanisms spoken, as the configuration names them.
pub use crate::config::SaslMechanism as Mechanism;

/// SASL credentials; the password only ever leaves as bytes on the wire.
#[derive(Debug, Clone)]
pub struct Sasl {
    pub mechanism: Mechanism,
    pub username: String,
    pub password: Secret,
}

/// A security setting that cannot be used, with the config key it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityError {
    /// Dotted config path, e.g. `security.ssl.keystore_path`.
    pub key: String,
    pub message: String,
    pub hint: String,
}

impl SecurityError {
    fn new(key: &str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        SecurityError { key: key.to_string(), message: message.into(), hint: hint.into() }
    }
}

impl std::fmt::Display for SecurityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.key, self.message, self.hint)
    }
}

impl Security {
    /// Plaintext, no SASL.
    pub fn plaintext() -> Self {
        Security::default()
    }

    /// Every setting that cannot work as written, without opening any file:
    /// unknown protocol or mechanism, unset environment variables.
    pub fn problems(config: &SecurityConfig, env: &dyn Fn(&str) -> Option<String>) -> Vec<SecurityError> {
        let mut problems = Vec::new();
        let ssl = &config.ssl;
        if ssl.enabled {
            if !matches!(ssl.protocol.as_str(), "TLSv1.2" | "TLSv1.3" | "TLS") {
                problems.push(SecurityError::new(
                    "security.ssl.protocol",
                    format!("unsupported TLS protocol `{}`", ssl.protocol),
                    "write TLSv1.2 or TLSv1.3",
                ));
            }
            for (store, key, name) in [
                (&ssl.keystore_path, "keystore_password_env", &ssl.keystore_password_env),
                (&ssl.truststore_path, "truststore_password_env", &ssl.truststore_password_env),
            ] {
                if store.is_some() && env(name).is_none() {
                    problems.push(SecurityError::new(
                        &format!("security.ssl.{key}"),
                        format!("environment variable `{name}` (named by `security.ssl.{key}`) is not set"),
                        format!("export {name} with the store's password"),
                    ));
                }
            }
        }
        let sasl = &config.sasl;
        if sasl.enabled {
            for (key, name) in [("username_env", &sasl.username_env), ("password_env", &sasl.password_env)] {
                if env(name).is_none_or(|v| v.is_empty()) {
                    problems.push(SecurityError::new(
                        &format!("security.sasl.{key}"),
                        format!("environment variable `{name}` (named by `security.sasl.{key}`) is not set"),
                        format!("export {name}"),
                    ));
                }
            }
        }
        problems
    }

    /// Builds the settings from the config; `env` answers the `*_env` variables.
    pub fn from_config(config: &SecurityConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, SecurityError> {
        if let Some(first) = Security::problems(config, env).into_iter().next() {
            return Err(first);
        }
        let tls = if config.ssl.enabled { Some(Arc::new(tls_config(&config.ssl, env)?)) } else { None };
        let sasl = if config.sasl.enabled { Some(sasl(&config.sasl, env)?) } else { None };
        Ok(Security { tls, sasl })
    }

    pub fn describe(&self) -> String {
        match (&self.tls, &self.sasl) {
            (None, None) => "plaintext".into(),
            (Some(_), None) => "TLS".into(),
            (None, Some(s)) => format!("SASL {} (no TLS)", s.mechanism.as_str()),
            (Some(_), Some(s)) => format!("TLS + SASL {}", s.mechanism.as_str()),
        }
    }
}

fn sasl(config: &SaslConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<Sasl, SecurityError> {
    // `problems` has checked the variables; the mechanism was parsed at load.
    let unusable = || SecurityError::new("security.sasl", "unusable SASL settings", "see `validate`");
    let mechanism = config.mechanism;
    let username = env(&config.username_env).ok_or_else(unusable)?;
    let password = Secret::new(env(&config.password_env).ok_or_else(unusable)?);
    Ok(Sasl { mechanism, username, password })
}

fn tls_config(ssl: &SslConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<rustls::ClientConfig, SecurityError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match ssl.protocol.as_str() {
        "TLSv1.3" => &[&rustls::version::TLS13],
        "TLSv1.2" | "TLS" => &[&rustls::version::TLS13, &rustls::version::TLS12],
        other => {
            return Err(SecurityError::new(
                "security.ssl.protocol",
                format!("unsupported TLS protocol `{other}`"),
                "write TLSv1.2 or TLSv1.3",
            ));
        }
    };

    let mut roots = RootCertStore::empty();
    if let Some(file) = &ssl.ca_file {
        let key = "security.ssl.ca_file";
        for cert in read_pem_certs(key, file)? {
            roots
                .add(cert)
                .map_err(|e| SecurityError::new(key, format!("`{file}`: {e}"), "give PEM CA certificates"))?;
        }
    }
    if let Some(file) = &ssl.truststore_path {
        let key = "security.ssl.truststore_path";
        let store = read_pkcs12(key, file, "truststore_password_env", &ssl.truststore_password_env, env)?;
        let mut found = 0;
        for (_, entry) in store.entries() {
            let certs: Vec<&p12_keystore::Certificate> = match entry {
                p12_keystore::KeyStoreEntry::Certificate(c) => vec![c],
                p12_keystore::KeyStoreEntry::PrivateKeyChain(chain) => chain.certs().iter().collect(),
                p12_keystore::KeyStoreEntry::Secret(_) => Vec::new(),
            };
            for cert in certs {
                roots.add(CertificateDer::from(cert.as_der().to_vec())).map_err(|e| {
                    SecurityError::new(key, format!("`{file}`: {e}"), "the truststore must hold CA certificates")
                })?;
                found += 1;
            }
        }
        if found == 0 {
            return Err(SecurityError::new(
                key,
                format!("`{file}` holds no certificate"),
                "import the CA with `keytool -importcert -storetype PKCS12`",
            ));
        }
    }
    if ssl.ca_file.is_none() && ssl.truststore_path.is_none() {
        // No CA given: trust the system's store, as Kafka's Java client does.
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            let _ = roots.add(cert);
        }
    }
    if roots.is_empty() {
        return Err(SecurityError::new(
            "security.ssl.ca_file",
            "no CA certificate to check the brokers' certificates with",
            "give `ca_file` (PEM) or `truststore_path` (PKCS#12)",
        ));
    }

    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| SecurityError::new("security.ssl.protocol", e.to_string(), "write TLSv1.2 or TLSv1.3"))?;
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| SecurityError::new("security.ssl", e.to_string(), "check the CA certificates"))?;
    let builder = if ssl.verify_hostname {
        builder.with_webpki_verifier(webpki)
    } else {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyName(webpki)))
    };

    let client_auth = client_identity(ssl, env)?;
    let config = match client_auth {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
            let at = if ssl.keystore_path.is_some() { "security.ssl.keystore_path" } else { "security.ssl.key_file" };
            SecurityError::new(
                at,
                format!("unusable client certificate or key: {e}"),
                "give the key of the certificate",
            )
        })?,
        None => builder.with_no_client_auth(),
    };
    Ok(config)
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The client certificate and key for mutual TLS, from PEM files or a PKCS#12 keystore.
fn client_identity(ssl: &SslConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Identity>, SecurityError> {
    if let (Some(cert), Some(key)) = (&ssl.cert_file, &ssl.key_file) {
        let chain = read_pem_certs("security.ssl.cert_file", cert)?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
            SecurityError::new(
                "security.ssl.key_file",
                format!("cannot read a private key from `{key}`: {e}"),
                "give an unencrypted PEM key (PKCS#8, PKCS#1 or SEC1)",
            )
        })?;
        return Ok(Some((chain, key)));
    }
    let Some(file) = &ssl.keystore_path else { return Ok(None) };
    let key = "security.ssl.keystore_path";
    let store = read_pkcs12(key, file, "keystore_password_env", &ssl.keystore_password_env, env)?;
    let Some((_, chain)) = store.private_key_chain() else {
        return Err(SecurityError::new(
            key,
            format!("`{file}` holds no private key with its certificate"),
            "export the client key and certificate together (`openssl pkcs12 -export` or keytool)",
        ));
    };
    let certs = chain.certs().iter().map(|c| CertificateDer::from(c.as_der().to_vec())).collect();
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
    Ok(Some((certs, private)))
}

fn read_pem_certs(key: &str, file: &str) -> Result<Vec<CertificateDer<'static>>, SecurityError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(file)
        .map_err(|e| SecurityError::new(key, format!("cannot read `{file}`: {e}"), "check the path and permissions"))?
        .collect();
    let certs = certs.map_err(|e| SecurityError::new(key, format!("`{file}`: {e}"), "give PEM certificates"))?;
    if certs.is_empty() {
        return Err(SecurityError::new(key, format!("`{file}` holds no PEM certificate"), "give PEM certificates"));
    }
    Ok(certs)
}

fn read_pkcs12(
    key: &str,
    file: &str,
    password_key: &str,
    password_env: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<p12_keystore::KeyStore, SecurityError> {
    let password = env(password_env).ok_or_else(|| {
        SecurityError::new(&format!("security.ssl.{password_key}"), format!("`{password_env}` is not set"), "")
    })?;
    let data = std::fs::read(file)
        .map_err(|e| SecurityError::new(key, format!("cannot read `{file}`: {e}"), "check the path and permissions"))?;
    // Relaxed: Java truststores mark CA entries with an attribute other tools omit.
    p12_keystore::KeyStore::from_pkcs12(&data, &password, p12_keystore::Pkcs12ImportPolicy::Relaxed).map_err(|e| {
        SecurityError::new(
            key,
            format!("cannot open `{file}` as PKCS#12: {e}"),
            format!("check the password in {password_env}; a JKS store must be converted: keytool -importkeystore -deststoretype PKCS12"),
        )
    })
}

/// Checks the chain against the CA but accepts any name (`verify_hostname: false`).
#[derive(Debug)]
struct AnyName(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
