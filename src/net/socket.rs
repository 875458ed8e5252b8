//! A handle to a connection's TCP socket: its options, what the kernel says of it, and
//! tearing it down.
//!
//! Why: a close frame cannot pass a full socket, so evicting a client that stopped
//! reading needs the socket itself, reset with `SO_LINGER` 0; stall detection asks the
//! kernel whether the peer still acknowledges bytes; and while the HTTP layer owns a
//! connection, its accounting needs the socket too. So a handle is taken when the
//! connection arrives (a duplicate of its descriptor, since the HTTP layer owns the
//! stream), and a session's handle is the stream it owns after the upgrade: one
//! descriptor per session, not two.

use std::sync::Arc;
use tokio::net::TcpStream;

/// A handle to one connection's TCP socket.
#[derive(Clone, Debug)]
pub struct SocketHandle(Arc<Held>);

#[derive(Debug)]
enum Held {
    /// A duplicated descriptor, while the HTTP layer owns the stream.
    Duplicate(socket2::Socket),
    /// The stream a session owns.
    Stream(Arc<TcpStream>),
}

impl SocketHandle {
    /// Takes a handle to `tcp` (a duplicate of its descriptor).
    pub fn from_tcp(tcp: &TcpStream) -> Option<Self> {
        socket2::SockRef::from(tcp).try_clone().ok().map(|s| SocketHandle(Arc::new(Held::Duplicate(s))))
    }

    /// A handle sharing `stream`, which the caller owns (no new descriptor).
    pub fn over_stream(stream: Arc<TcpStream>) -> Self {
        SocketHandle(Arc::new(Held::Stream(stream)))
    }

    fn socket(&self) -> socket2::SockRef<'_> {
        match &*self.0 {
            Held::Duplicate(s) => socket2::SockRef::from(s),
            Held::Stream(s) => socket2::SockRef::from(&**s),
        }
    }

    /// Sets `SO_SNDBUF` (`server.socket_send_buffer_bytes`): bounds kernel memory per
    /// slow client and makes backpressure reach the session sooner.
    pub fn set_send_buffer(&self, bytes: usize) {
        let _ = self.socket().set_send_buffer_size(bytes);
    }

    /// Sets `TCP_NOTSENT_LOWAT` (`server.socket_notsent_lowat_bytes`): the kernel then
    /// refuses writes once that many bytes wait unsent, so a client that stops reading
    /// costs at most about that much kernel memory (plus what is in flight) and its
    /// backlog reaches the session's stall timer at once, while bytes in flight to an
    /// honest client on a long link are not limited (unlike a small `SO_SNDBUF`).
    pub fn set_notsent_lowat(&self, bytes: usize) {
        let _ = self.socket().set_tcp_notsent_lowat(bytes.min(u32::MAX as usize) as u32);
    }

    /// The peer's address.
    pub fn peer_ip(&self) -> Option<std::net::IpAddr> {
        self.socket().peer_addr().ok()?.as_socket().map(|a| a.ip())
    }

    /// Bytes the kernel has received from the peer on this connection; `None` where
    /// the kernel does not say.
    pub fn bytes_received(&self) -> Option<u64> {
        let (info, len) = self.tcp_info()?;
        let end = std::mem::offset_of!(libc::tcp_info, tcpi_bytes_received) + std::mem::size_of::<u64>();
        (len >= end).then_some(info.tcpi_bytes_received)
    }

    /// What the kernel says of the bytes sent: how many the peer has acknowledged in
    /// all, and whether any wait unsent or unacknowledged now.
    pub fn send_progress(&self) -> Option<(u64, bool)> {
        let (info, len) = self.tcp_info()?;
        let end = std::mem::offset_of!(libc::tcp_info, tcpi_notsent_bytes) + std::mem::size_of::<u32>();
        (len >= end).then_some((info.tcpi_bytes_acked, info.tcpi_unacked > 0 || info.tcpi_notsent_bytes > 0))
    }

    /// How the peer ended a connection that ended without a close handshake: `"reset"`
    /// (it sent RST: the kernel closed the socket) or `"eof"` (it sent FIN).
    pub fn how_peer_left(&self) -> &'static str {
        // Linux's TCP states: 7 = TCP_CLOSE (after a reset), 8 = TCP_CLOSE_WAIT (after FIN).
        match self.tcp_info().map(|(info, _)| info.tcpi_state) {
            Some(7) => "reset",
            Some(8) => "eof",
            _ => "lost",
        }
    }

    /// The kernel's `TCP_INFO` for the socket and how many bytes of it were filled.
    fn tcp_info(&self) -> Option<(libc::tcp_info, usize)> {
        use std::os::fd::AsRawFd;
        let socket = self.socket();
        // SAFETY: TCP_INFO fills at most `len` bytes of a plain C struct we own (zeroed,
        // so fields an older kernel leaves out read 0); the descriptor is open for as
        // long as `self` (a duplicate it owns, or a stream it holds).
        unsafe {
            let mut info: libc::tcp_info = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
            let rc = libc::getsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            );
            (rc == 0).then_some((info, len as usize))
        }
    }

    /// Answers a connection that is refused before the HTTP layer reads anything: writes
    /// `response` (a whole small HTTP response, which fits an empty send buffer) and
    /// shuts the socket down, so the HTTP layer sees it end and drops it.
    pub fn refuse(&self, response: &[u8]) {
        use std::io::Write;
        let socket = self.socket();
        let _ = (&*socket).write(response);
        let _ = socket.shutdown(std::net::Shutdown::Both);
    }

    /// Ends the connection gracefully (FIN both ways), whoever else holds it.
    pub fn shut_down(&self) {
        let _ = self.socket().shutdown(std::net::Shutdown::Both);
    }

    /// Resets the connection: `SO_LINGER` 0 drops unsent bytes and sends RST on close;
    /// the shutdown wakes the HTTP layer, which then drops the connection.
    pub fn reset(&self) {
        let socket = self.socket();
        let _ = socket.set_linger(Some(std::time::Duration::ZERO));
        let _ = socket.shutdown(std::net::Shutdown::Both);
    }
}
