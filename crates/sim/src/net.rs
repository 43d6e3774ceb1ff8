//! The simulated network, behind the same `Net` trait as real TCP.

use holdfast_wire::net::{BoxRead, BoxWrite, Net, NetFut, NetListener};

pub struct TurmoilNet;

struct TurmoilListener(turmoil::net::TcpListener);

impl Net for TurmoilNet {
    fn connect<'a>(&'a self, addr: &'a str) -> NetFut<'a, (BoxRead, BoxWrite)> {
        Box::pin(async move {
            let s = turmoil::net::TcpStream::connect(addr).await?;
            let (r, w) = s.into_split();
            Ok((Box::new(r) as BoxRead, Box::new(w) as BoxWrite))
        })
    }

    fn bind<'a>(&'a self, addr: &'a str) -> NetFut<'a, Box<dyn NetListener>> {
        Box::pin(async move {
            let l = turmoil::net::TcpListener::bind(addr).await?;
            Ok(Box::new(TurmoilListener(l)) as Box<dyn NetListener>)
        })
    }
}

impl NetListener for TurmoilListener {
    fn accept(&mut self) -> NetFut<'_, (BoxRead, BoxWrite, String)> {
        Box::pin(async move {
            let (s, addr) = self.0.accept().await?;
            let (r, w) = s.into_split();
            Ok((Box::new(r) as BoxRead, Box::new(w) as BoxWrite, addr.to_string()))
        })
    }
}
