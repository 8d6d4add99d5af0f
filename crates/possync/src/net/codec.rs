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

/// A peer announced a catch-up frame over [`MAX_CATCHUP_BYTES`]. It is read
/// as a request of its own, not as an error: libp2p only logs a failed read,
/// and the node must count it against the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("catch-up message of {bytes} bytes exceeds {MAX_CATCHUP_BYTES}")]
pub struct Oversized {
    pub bytes: usize,
}

/// Reads and writes `u32 big-endian length | bytes` frames.
#[derive(Clone, Copy, Debug, Default)]
pub struct CatchupCodec;

impl request_response::Codec for CatchupCodec {
    type Protocol = StreamProtocol;
    /// A message, or the size of one refused unread.
    type Request = Result<Vec<u8>, Oversized>;
    type Response = ();

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Self::Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut len = [0u8; 4];
        io.read_exact(&mut len).await?;
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_CATCHUP_BYTES {
            // Refused before a byte of it is read or allocated; the stream
            // is dropped after the acknowledgement.
            return Ok(Err(Oversized { bytes: len }));
        }
        let mut buf = vec![0u8; len];
        io.read_exact(&mut buf).await?;
        Ok(Ok(buf))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<()>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut ack = [0u8; 1];
        io.read_exact(&mut ack).await?;
        Ok(())
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Self::Request) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let req = req.map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use futures::executor::block_on;
    use futures::io::Cursor;
    use request_response::Codec;

    use super::*;

    #[test]
    fn a_frame_over_the_limit_is_refused_before_it_is_read() {
        let mut frame = u32::try_from(MAX_CATCHUP_BYTES + 1).unwrap().to_be_bytes().to_vec();
        frame.extend_from_slice(b"only a few bytes follow");
        let read = block_on(CatchupCodec.read_request(&CATCHUP_PROTOCOL, &mut Cursor::new(frame))).unwrap();
        assert_eq!(read, Err(Oversized { bytes: MAX_CATCHUP_BYTES + 1 }));
    }

    #[test]
    fn frames_round_trip_and_truncation_is_an_error() {
        let message = b"PS\x01\x10".to_vec();
        let mut wire = Cursor::new(Vec::new());
        block_on(CatchupCodec.write_request(&CATCHUP_PROTOCOL, &mut wire, Ok(message.clone()))).unwrap();
        let bytes = wire.into_inner();
        let read = block_on(CatchupCodec.read_request(&CATCHUP_PROTOCOL, &mut Cursor::new(bytes.clone())));
        assert_eq!(read.unwrap(), Ok(message));
        let cut =
            block_on(CatchupCodec.read_request(&CATCHUP_PROTOCOL, &mut Cursor::new(bytes[..5].to_vec())));
        assert!(cut.is_err(), "a truncated frame is an error");
    }
}
