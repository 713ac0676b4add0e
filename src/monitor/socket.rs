//! `socket`: something accepts TCP connections on the node's port.

use tokio::net::TcpStream;

use super::{Cause, Outcome, Prober, io_cause};
use crate::topology::Node;

pub(super) async fn probe(p: &Prober, node: &Node) -> Outcome {
    match tokio::time::timeout(p.connect_timeout, TcpStream::connect(node.address())).await {
        Ok(Ok(_)) => Outcome::healthy(format!("{} accepts connections", node.address())),
        Ok(Err(e)) => Outcome::failed(io_cause(&e), format!("connect to {}: {e}", node.address())),
        Err(_) => Outcome::failed(
            Cause::ConnectTimeout,
            format!("connect to {}: no answer within {:?}", node.address(), p.connect_timeout),
        ),
    }
}
