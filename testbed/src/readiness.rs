//! Asking a real node whether it serves: Kafka ApiVersions and ZooKeeper `srvr`.
//!
//! Deliberately independent of the daemon's own probes (`monitor/`): the test
//! bed must not share code with what it tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};

/// Sends ApiVersions v0 and returns the number of APIs the node supports.
///
/// v0 is answered by every Kafka version, including 4.x, because clients use it
/// to negotiate; an error code in the answer is an error here.
pub fn api_versions(addr: SocketAddr, timeout: Duration) -> anyhow::Result<usize> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("connect {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let client_id = b"kafka-testbed";
    let correlation_id: i32 = 0x7e57;
    let mut body = Vec::new();
    body.extend_from_slice(&18i16.to_be_bytes()); // api_key: ApiVersions
    body.extend_from_slice(&0i16.to_be_bytes()); // api_version
    body.extend_from_slice(&correlation_id.to_be_bytes());
    body.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    body.extend_from_slice(client_id);
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    stream.write_all(&frame)?;

    let mut len = [0u8; 4];
    stream.read_exact(&mut len).context("read response size")?;
    let len = i32::from_be_bytes(len);
    if !(6..=1 << 20).contains(&len) {
        bail!("implausible ApiVersions response size {len}");
    }
    let mut resp = vec![0u8; len as usize];
    stream.read_exact(&mut resp).context("read response")?;
    let got_id = i32::from_be_bytes([resp[0], resp[1], resp[2], resp[3]]);
    if got_id != correlation_id {
        bail!("correlation id {got_id}, expected {correlation_id}");
    }
    let error = i16::from_be_bytes([resp[4], resp[5]]);
    if error != 0 {
        bail!("ApiVersions error code {error}");
    }
    if resp.len() < 10 {
        bail!("truncated ApiVersions response");
    }
    let count = i32::from_be_bytes([resp[6], resp[7], resp[8], resp[9]]);
    Ok(count.max(0) as usize)
}

/// Sends a four-letter word and returns the whole answer.
pub fn zookeeper_four_letter_word(addr: SocketAddr, word: &str, timeout: Duration) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("connect {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(word.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).context("read answer")?;
    Ok(answer)
}
