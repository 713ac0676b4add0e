use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader, SaslAuthenticateRequest,
    SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Message, Request, StrBytes};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::error::{KafkaError, error_name};
use super::scram::{Hash, Scram};
use super::security::{Mechanism, Sasl, Security};

/// A plaintext or TLS stream.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Time limits of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
}

/// Answers larger than this are a protocol error, not an allocation.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// One connection to one Kafka node, one request at a time.
pub struct Connection {
    stream: Box<dyn Io>,
    timeouts: Timeouts,
    correlation_id: i32,
    client_id: StrBytes,
    /// Supported version range per API key, from ApiVersions.
    versions: HashMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects to `host:port` (with TLS and SASL when `security` says so) and negotiates API versions.
    pub async fn connect(
        host: &str,
        port: u16,
        security: &Security,
        timeouts: Timeouts,
    ) -> Result<Connection, KafkaError> {
        let addr = format!("{host}:{port}");
        let stream = match tokio::time::timeout(timeouts.connect, TcpStream::connect(&addr)).await {
            Err(_) => return Err(KafkaError::ConnectTimeout { addr, after: timeouts.connect }),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::Other || e.raw_os_error().is_none() => {
                // tokio reports resolver failures as io errors without an OS code.
                return Err(KafkaError::Resolve { host: host.to_string(), source: e });
            }
            Ok(Err(source)) => return Err(KafkaError::Connect { addr, source }),
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        let stream: Box<dyn Io> = match &security.tls {
            None => Box::new(stream),
            Some(config) => {
                let name = ServerName::try_from(host.to_string())
                    .map_err(|e| KafkaError::Tls { addr: addr.clone(), detail: format!("bad server name: {e}") })?;
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                match tokio::time::timeout(timeouts.connect, connector.connect(name, stream)).await {
                    Err(_) => return Err(KafkaError::ConnectTimeout { addr, after: timeouts.connect }),
                    Ok(Err(e)) => return Err(tls_error(&addr, e)),
                    Ok(Ok(s)) => Box::new(s),
                }
            }
        };
        let mut conn = Connection {
            stream,
            timeouts,
            correlation_id: 0,
            client_id: StrBytes::from_static_str("kafka-self-healing"),
            versions: HashMap::new(),
        };
        conn.negotiate().await.map_err(|e| with_tls_cause(&addr, e))?;
        if let Some(sasl) = &security.sasl {
            conn.authenticate(sasl).await.map_err(|e| with_tls_cause(&addr, e))?;
        }
        Ok(conn)
    }

    /// SaslHandshake, then the mechanism's SaslAuthenticate round trips.
    async fn authenticate(&mut self, sasl: &Sasl) -> Result<(), KafkaError> {
        let mechanism = sasl.mechanism.as_str();
        let handshake = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
        let response = self.send(&handshake, "SaslHandshake").await?;
        if response.error_code != 0 {
            let offered: Vec<String> = response.mechanisms.iter().map(|m| m.to_string()).collect();
            return Err(KafkaError::Authentication {
                mechanism,
                detail: format!(
                    "the listener does not offer {mechanism} ({}); it offers: {}",
                    error_name(response.error_code),
                    if offered.is_empty() { "nothing".to_string() } else { offered.join(", ") }
                ),
            });
        }
        match sasl.mechanism {
            Mechanism::Plain => {
                let token = format!("\0{}\0{}", sasl.username, sasl.password.expose());
                self.sasl_step(mechanism, token.into_bytes()).await?;
            }
            Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
                let hash = if sasl.mechanism == Mechanism::ScramSha256 { Hash::Sha256 } else { Hash::Sha512 };
                let mut scram = Scram::new(hash, &sasl.username, sasl.password.expose());
                let server_first = self.sasl_step(mechanism, scram.client_first()).await?;
                let client_final = scram
                    .client_final(&server_first)
                    .map_err(|detail| KafkaError::Authentication { mechanism, detail })?;
                let server_final = self.sasl_step(mechanism, client_final).await?;
                scram.verify(&server_final).map_err(|detail| KafkaError::Authentication { mechanism, detail })?;
            }
        }
        Ok(())
    }

    /// One SaslAuthenticate round trip; a refusal is an authentication error.
    async fn sasl_step(&mut self, mechanism: &'static str, token: Vec<u8>) -> Result<Bytes, KafkaError> {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
        let response = self.send(&request, "SaslAuthenticate").await?;
        if response.error_code != 0 {
            let message = response.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default();
            return Err(KafkaError::Authentication {
                mechanism,
                detail: format!("{} {message}", error_name(response.error_code)).trim().to_string(),
            });
        }
        Ok(response.auth_bytes)
    }

    /// Number of APIs the node announced.
    pub fn api_count(&self) -> usize {
        self.versions.len()
    }

    /// The version range the node supports for `key`, if any.
    pub fn supported(&self, key: ApiKey) -> Option<(i16, i16)> {
        self.versions.get(&(key as i16)).copied()
    }

    async fn negotiate(&mut self) -> Result<(), KafkaError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("kafka-self-healing"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut version = ApiVersionsRequest::VERSIONS.max;
        for _ in 0..2 {
            let body = self.exchange(&request, version, "ApiVersions").await?;
            // A node that does not know our version answers in version 0 with
            // UNSUPPORTED_VERSION and its own range; try again inside it.
            let response = decode::<ApiVersionsResponse>(body.clone(), version)
                .or_else(|_| decode::<ApiVersionsResponse>(body, 0))
                .map_err(|detail| KafkaError::Protocol { api: "ApiVersions", detail })?;
            self.versions = response.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect();
            match response.error_code {
                0 => return Ok(()),
                35 => {
                    let theirs = self.supported(ApiKey::ApiVersions).map_or(0, |(_, max)| max);
                    version = theirs.min(ApiVersionsRequest::VERSIONS.max);
                }
                code => return Err(KafkaError::Api { api: "ApiVersions", code, name: error_name(code) }),
            }
        }
        Err(KafkaError::Protocol { api: "ApiVersions", detail: "version negotiation did not converge".into() })
    }

    /// Sends `request` at the highest version both sides speak and returns the answer.
    pub async fn send<R: Request>(&mut self, request: &R, api: &'static str) -> Result<R::Response, KafkaError> {
        let (min, max) = self.supported(api_key::<R>()?).ok_or_else(|| KafkaError::Unsupported {
            api,
            ours: R::VERSIONS.to_string(),
            theirs: "nothing".into(),
        })?;
        let version = max.min(R::VERSIONS.max);
        if version < min.max(R::VERSIONS.min) {
            return Err(KafkaError::Unsupported {
                api,
                ours: R::VERSIONS.to_string(),
                theirs: format!("{min}..{max}"),
            });
        }
        let body = self.exchange(request, version, api).await?;
        decode::<R::Response>(body, version).map_err(|detail| KafkaError::Protocol { api, detail })
    }

    /// Writes one request and reads the matching response body (after its header).
    async fn exchange<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        api: &'static str,
    ) -> Result<Bytes, KafkaError> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        let encoded =
            header.encode(&mut frame, R::header_version(version)).and_then(|_| request.encode(&mut frame, version));
        encoded.map_err(|e| KafkaError::Protocol { api, detail: format!("cannot encode the request: {e}") })?;
        let size = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&size.to_be_bytes());

        let deadline = self.timeouts.request;
        let io = async {
            self.stream.write_all(&frame).await?;
            let size = self.stream.read_i32().await?;
            if size < 4 || size as usize > MAX_RESPONSE {
                return Ok(Err(format!("implausible response size {size}")));
            }
            let mut body = vec![0u8; size as usize];
            self.stream.read_exact(&mut body).await?;
            Ok::<_, std::io::Error>(Ok(Bytes::from(body)))
        };
        let mut body = match tokio::time::timeout(deadline, io).await {
            Err(_) => return Err(KafkaError::Timeout { api, after: deadline }),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(KafkaError::Closed { api }),
            Ok(Err(source)) => return Err(KafkaError::Io { api, source }),
            Ok(Ok(Err(detail))) => return Err(KafkaError::Protocol { api, detail }),
            Ok(Ok(Ok(body))) => body,
        };
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .map_err(|e| KafkaError::Protocol { api, detail: format!("bad response header: {e}") })?;
        if header.correlation_id != self.correlation_id {
            return Err(KafkaError::Protocol {
                api,
                detail: format!("correlation id {} in answer to {}", header.correlation_id, self.correlation_id),
            });
        }
        Ok(body)
    }

    /// Asks ApiVersions again on this connection: a cheap "are you still there".
    pub async fn ping(&mut self) -> Result<(), KafkaError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("kafka-self-healing"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let version =
            self.supported(ApiKey::ApiVersions).map_or(0, |(_, max)| max.min(ApiVersionsRequest::VERSIONS.max));
        let body = self.exchange(&request, version, "ApiVersions").await?;
        let response = decode::<ApiVersionsResponse>(body, version)
            .map_err(|detail| KafkaError::Protocol { api: "ApiVersions", detail })?;
        match response.error_code {
            0 => Ok(()),
            code => Err(KafkaError::Api { api: "ApiVersions", code, name: error_name(code) }),
        }
    }

    /// Completes when the node closes this (idle) connection, or sends bytes
    /// nobody asked for. Used to notice a crashed node at once.
    pub async fn closed(&mut self) -> KafkaError {
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte).await {
            Ok(0) => KafkaError::Closed { api: "idle connection" },
            Ok(_) => KafkaError::Protocol { api: "idle connection", detail: "unexpected bytes".into() },
            Err(source) => KafkaError::Io { api: "idle connection", source },
        }
    }
}

fn api_key<R: Request>() -> Result<ApiKey, KafkaError> {
    ApiKey::try_from(R::KEY)
        .map_err(|_| KafkaError::Protocol { api: "request", detail: format!("unknown API key {}", R::KEY) })
}

pub(super) fn decode<T: Decodable>(mut body: Bytes, version: i16) -> Result<T, String> {
    let value = T::decode(&mut body, version).map_err(|e| format!("cannot decode the response: {e}"))?;
    if body.has_remaining() {
        return Err(format!("{} unread bytes after the response", body.remaining()));
    }
    Ok(value)
}

/// A failed TLS handshake: the listener answered, but we could not agree on trust.
fn tls_error(addr: &str, e: std::io::Error) -> KafkaError {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(tls) => KafkaError::Tls { addr: addr.to_string(), detail: tls.to_string() },
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => KafkaError::Tls {
            addr: addr.to_string(),
            detail: "the listener closed the connection during the TLS handshake (a plaintext listener, or our certificate was refused)".into(),
        },
        None => KafkaError::Connect { addr: addr.to_string(), source: e },
    }
}

/// TLS 1.3 reports a refused client certificate only on the first read.
fn with_tls_cause(addr: &str, e: KafkaError) -> KafkaError {
    match e {
        KafkaError::Io { source, .. } if source.get_ref().is_some_and(|i| i.is::<rustls::Error>()) => {
            tls_error(addr, source)
        }
        other => other,
    }
}
