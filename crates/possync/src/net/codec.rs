//! The catch-up protocol's framing on a libp2p stream: one request is one
//! possync message (see `docs/PROTOCOL.md` §4), length-prefixed; the response
//! is an empty acknowledgement.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;

/// The catch-up protocol id.
pub const CATCHUP_PROTOCOL: StreamProtocol = StreamProtocol::new("/possync/catchup/1");

/// Largest catch-up message accepted (the engine builds at most 256 KiB).
pub const MAX_CATCHUP_BYTES: usize = 1024 * 1024;

/// Reads and writes `u32 big-endian length | bytes` frames.
#[derive(Clone, Copy, Debug, Default)]
pub struct CatchupCodec;

impl request_response::Codec for CatchupCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = ();

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut len = [0u8; 4];
        io.read_exact(&mut len).await?;
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_CATCHUP_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("catch-up message of {len} bytes exceeds {MAX_CATCHUP_BYTES}"),
            ));
        }
        let mut buf = vec![0u8; len];
        io.read_exact(&mut buf).await?;
        Ok(buf)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<()>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut ack = [0u8; 1];
        io.read_exact(&mut ack).await?;
        Ok(())
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Vec<u8>) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let len = u32::try_from(req.len())
            .ok()
            .filter(|&l| l as usize <= MAX_CATCHUP_BYTES)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "catch-up message too large"))?;
        io.write_all(&len.to_be_bytes()).await?;
        io.write_all(&req).await?;
        io.close().await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, (): ()) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&[0]).await?;
        io.close().await
    }
}
