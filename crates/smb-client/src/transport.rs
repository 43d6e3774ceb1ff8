//! Direct TCP (port 445 style) framing: a 4-byte NetBIOS session header
//! before every SMB2 message.

use bytes::BytesMut;
use holdfast_smb_proto::frame::{begin_frame, decode_frame_header, finish_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{ClientError, Result};

pub struct Transport {
    stream: TcpStream,
}

impl Transport {
    pub async fn connect(addr: &str) -> Result<Transport> {
        let stream = TcpStream::connect(addr).await?;
        // Requests are small and strictly request/response: Nagle would
        // hold every one back for the previous ACK.
        stream.set_nodelay(true)?;
        Ok(Transport { stream })
    }

    /// Sends one message with its frame header.
    pub async fn send_message(&mut self, message: &[u8]) -> Result<()> {
        let mut out = BytesMut::with_capacity(message.len() + 4);
        let start = begin_frame(&mut out);
        out.extend_from_slice(message);
        finish_frame(&mut out, start)?;
        self.send_raw(&out).await
    }

    /// Sends bytes exactly as given (no frame header added).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// Reads one framed message (without its frame header). A clean EOF
    /// before or inside a frame is [`ClientError::Closed`].
    pub async fn recv_message(&mut self) -> Result<Vec<u8>> {
        let mut h = [0u8; 4];
        read_exact(&mut self.stream, &mut h).await?;
        let len = decode_frame_header(h)?;
        let mut msg = vec![0u8; len];
        read_exact(&mut self.stream, &mut msg).await?;
        Ok(msg)
    }
}

async fn read_exact(s: &mut TcpStream, buf: &mut [u8]) -> Result<()> {
    match s.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(ClientError::Closed),
        Err(e) => Err(e.into()),
    }
}
