//! A minimal HTTP/1.1 server on a free loopback port (hyper), for the demo's and the
//! bench's local services; dropping it stops it and every connection it serves.

use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// A response with a fully buffered body.
pub type FullResponse = Response<Full<Bytes>>;

/// A running server.
#[derive(Debug)]
pub struct HttpServer {
    address: SocketAddr,
    accept_loop: JoinHandle<()>,
}

impl HttpServer {
    /// Serves `handler` on 127.0.0.1 (a free port) until dropped.
    pub async fn start<H, Fut>(handler: H) -> std::io::Result<HttpServer>
    where
        H: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = FullResponse> + Send + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let address = listener.local_addr()?;
        let handler = Arc::new(handler);
        let accept_loop = tokio::spawn(async move {
            // Owned here, so aborting the accept loop also ends every connection.
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                // Latency is measured through these servers: no Nagle delay on small replies.
                drop(stream.set_nodelay(true));
                let handler = Arc::clone(&handler);
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let reply = handler(request);
                        async move { Ok::<_, Infallible>(reply.await) }
                    });
                    // A client that goes away mid-request is not the server's problem.
                    drop(
                        http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await,
                    );
                });
                // Reap finished connections so the set does not grow without bound.
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(HttpServer { address, accept_loop })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

/// A response with `status`, a content type and `body`.
pub fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> FullResponse {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .expect("status and header are valid")
}

/// A JSON response.
pub fn json(status: u16, body: &serde_json::Value) -> FullResponse {
    respond(status, "application/json", body.to_string())
}
