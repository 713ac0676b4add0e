//! Outgoing HTTP clients (notification channels, the `http` action and probe,
//! JMX agents, the `status` and `alert` commands), built so that they never
//! panic.
//!
//! Owns: building a `reqwest::Client` from a configured builder, and what
//! happens on a host without CA certificates (no `ca-certificates` package):
//! the client still builds, plain HTTP works, and every HTTPS request fails
//! with an error that says why and what to install — instead of the library's
//! panic at start-up (`Client::new()`), which made systemd restart the daemon
//! in a loop.
//! Must never: disable certificate verification.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// What a request to an HTTPS address says on a host without CA certificates.
pub const NO_CA_CERTIFICATES: &str = "this host has no CA certificates, so no HTTPS server can be verified: install the `ca-certificates` package (or point SSL_CERT_FILE at a CA bundle) and restart the daemon";

/// A client from `configure(Client::builder())`. The second value is the
/// reason HTTPS cannot work here, when the system's CA certificates could not
/// be loaded (say it once, naming what uses HTTPS).
pub fn build(
    configure: impl Fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> (reqwest::Client, Option<String>) {
    match configure(reqwest::Client::builder()).build() {
        Ok(client) => (client, None),
        Err(first) => {
            let reason = format!("{NO_CA_CERTIFICATES} ({})", error_chain(&first));
            // Same settings, with a TLS configuration of our own: it builds without
            // any root certificate (a unit test checks the fallback builds).
            let client = configure(reqwest::Client::builder())
                .tls_backend_preconfigured(refusing_tls())
                .build()
                .or_else(|_| reqwest::Client::builder().tls_backend_preconfigured(refusing_tls()).build())
                .expect("a client with a preconfigured rustls configuration builds");
            (client, Some(reason))
        }
    }
}

/// A rustls configuration whose verifier refuses every server with [`NO_CA_CERTIFICATES`].
fn refusing_tls() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(NoCaCertificates { provider: provider.clone() });
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth())
        .unwrap_or_else(|_| {
            rustls::ClientConfig::builder()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoCaCertificates {
                    provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
                }))
                .with_no_client_auth()
        })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[derive(Debug)]
struct NoCaCertificates {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for NoCaCertificates {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Err(rustls::Error::General(NO_CA_CERTIFICATES.into()))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_ca_certificates_https_fails_with_the_reason_and_nothing_panics() {
        let client = reqwest::Client::builder().tls_backend_preconfigured(refusing_tls()).build().unwrap();
        // A TLS server on 127.0.0.1 that presents some certificate.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cert = rcgen_free_cert();
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.0], cert.1)
                .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        tokio::spawn(async move {
            if let Ok((tcp, _)) = listener.accept().await {
                let _ = acceptor.accept(tcp).await;
            }
        });
        let err = client.get(format!("https://127.0.0.1:{port}/")).send().await.unwrap_err();
        assert!(error_chain(&err).contains("install the `ca-certificates` package"), "{}", error_chain(&err));
    }

    /// A self-signed certificate made by `openssl` (installed by testing/setup.sh).
    fn rcgen_free_cert() -> (CertificateDer<'static>, rustls::pki_types::PrivateKeyDer<'static>) {
        use rustls::pki_types::pem::PemObject;
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
        let ok = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
        (CertificateDer::from_pem_file(&cert).unwrap(), rustls::pki_types::PrivateKeyDer::from_pem_file(&key).unwrap())
    }
}
