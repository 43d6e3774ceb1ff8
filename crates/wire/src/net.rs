//! The network under the wire protocol: real TCP in production, a
//! simulated network in the deterministic simulator. Connections come
//! already split into a read and a write half so the real path keeps
//! tokio's lock-free `into_split`.

use std::future::Future;
use std::io;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

pub type BoxRead = Box<dyn AsyncRead + Unpin + Send>;
pub type BoxWrite = Box<dyn AsyncWrite + Unpin + Send>;
pub type NetFut<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'a>>;

pub trait Net: Send + Sync + 'static {
    /// Connects to `addr` ("host:port") with Nagle off.
    fn connect<'a>(&'a self, addr: &'a str) -> NetFut<'a, (BoxRead, BoxWrite)>;
    fn bind<'a>(&'a self, addr: &'a str) -> NetFut<'a, Box<dyn NetListener>>;
}

pub trait NetListener: Send {
    /// The next connection and the peer's address.
    fn accept(&mut self) -> NetFut<'_, (BoxRead, BoxWrite, String)>;
}

/// Real TCP.
pub struct TokioNet;

struct TokioListener(tokio::net::TcpListener);

impl Net for TokioNet {
    fn connect<'a>(&'a self, addr: &'a str) -> NetFut<'a, (BoxRead, BoxWrite)> {
        Box::pin(async move {
            let s = tokio::net::TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            let (r, w) = s.into_split();
            Ok((Box::new(r) as BoxRead, Box::new(w) as BoxWrite))
        })
    }

    fn bind<'a>(&'a self, addr: &'a str) -> NetFut<'a, Box<dyn NetListener>> {
        Box::pin(async move {
            let l = tokio::net::TcpListener::bind(addr).await?;
            Ok(Box::new(TokioListener(l)) as Box<dyn NetListener>)
        })
    }
}

impl NetListener for TokioListener {
    fn accept(&mut self) -> NetFut<'_, (BoxRead, BoxWrite, String)> {
        Box::pin(async move {
            let (s, addr) = self.0.accept().await?;
            s.set_nodelay(true)?;
            let (r, w) = s.into_split();
            Ok((Box::new(r) as BoxRead, Box::new(w) as BoxWrite, addr.to_string()))
        })
    }
}
