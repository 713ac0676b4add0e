//! Email over SMTP (lettre): STARTTLS (`use_tls`), implicit TLS (`use_ssl`)
//! or plain; AUTH when a user is given; one thread per incident
//! (`Message-ID` per notification, `In-Reply-To`/`References` to the incident).

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::channels::DeliveryError;
use super::compose::Notification;
use crate::config::Config;

fn mailbox(address: &str) -> Result<Mailbox, DeliveryError> {
    address.parse().map_err(|e| DeliveryError(format!("`{address}` is not an email address: {e}")))
}

/// The incident's thread id: every message about one incident refers to it.
fn thread_id(n: &Notification) -> String {
    format!("<{}@kafka-self-healing>", n.incident_id.as_deref().unwrap_or("cluster"))
}

pub async fn send(config: &Config, n: &Notification) -> Result<(), DeliveryError> {
    let s = config.notifications.smtp.as_ref().ok_or_else(|| DeliveryError("smtp is not configured".into()))?;
    let mut builder = Message::builder()
        .from(mailbox(&s.from_email)?)
        .subject(n.subject.clone())
        // Stable per notification: a redelivery after a crash has the same id, and mail clients drop the copy.
        .message_id(Some(format!(
            "<{}.{}.{}@kafka-self-healing>",
            n.incident_id.as_deref().unwrap_or("cluster"),
            n.trigger,
            n.at.chars().filter(char::is_ascii_digit).collect::<String>()
        )))
        .in_reply_to(thread_id(n))
        .references(thread_id(n));
    for to in &s.to_emails {
        builder = builder.to(mailbox(to)?);
    }
    for cc in &s.cc_emails {
        builder = builder.cc(mailbox(cc)?);
    }
    for bcc in &s.bcc_emails {
        builder = builder.bcc(mailbox(bcc)?);
    }
    let html = format!(
        "<html><body><h3>{}</h3><pre style=\"font-family: monospace\">{}</pre></body></html>",
        escape(&n.subject),
        escape(&n.body)
    );
    let message = builder
        .multipart(MultiPart::alternative_plain_html(n.body.clone(), html))
        .map_err(|e| DeliveryError(format!("cannot build the email: {e}")))?;
    let tls = if s.use_ssl || s.use_tls {
        let mut params = TlsParameters::builder(s.host.clone());
        if let Some(ca) = &s.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| DeliveryError(format!("cannot read {ca} (notifications.smtp.ca_file): {e}")))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| {
                DeliveryError(format!("{ca} (notifications.smtp.ca_file) is not a PEM certificate: {e}"))
            })?;
            params = params.add_root_certificate(cert);
        }
        let params = params.build_rustls().map_err(|e| DeliveryError(format!("SMTP TLS settings: {e}")))?;
        // Implicit TLS (SMTPS) or STARTTLS required: never a silent fall-back to plaintext.
        if s.use_ssl { Tls::Wrapper(params) } else { Tls::Required(params) }
    } else {
        Tls::None
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
        .port(s.port)
        .tls(tls)
        .timeout(Some(s.timeout.duration()));
    let login = s.username.is_some() && s.password.is_some();
    if let (Some(user), Some(password)) = (&s.username, &s.password) {
        transport = transport.credentials(Credentials::new(user.clone(), password.expose().to_string()));
    }
    let plain = !s.use_tls && !s.use_ssl;
    transport.build().send(message).await.map(|_| ()).map_err(|e| {
        let text = e.to_string();
        if login && plain && text.contains("No compatible authentication mechanism") {
            DeliveryError(format!(
                "SMTP {}:{}: {PLAIN_LOGIN}; set `notifications.smtp.use_tls: true` (STARTTLS, usually port 587) or \
                 `use_ssl: true` (TLS from the first byte, usually port 465), or remove `username`/`password` if the \
                 server needs no login (the mail library said: {text})",
                s.host, s.port
            ))
        } else {
            DeliveryError(format!("SMTP {}:{}: {text}", s.host, s.port))
        }
    })
}

/// Why a login over a connection without TLS fails: servers offer AUTH only
/// after STARTTLS, so that no password crosses the network in the clear.
const PLAIN_LOGIN: &str = "a username and password are set but the connection is not encrypted \
     (`use_tls` and `use_ssl` are false), and the server offers no login without TLS";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
