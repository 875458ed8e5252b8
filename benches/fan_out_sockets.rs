//! One tick's fan-out to 1,000 real loopback sockets, from 1 and from 2 room threads.
//!
//! What a room thread does per member on the tick, over real sockets: the member's
//! update header into a scratch buffer, then one non-blocking vectored write of the
//! WebSocket header, that header and the shared body through its `ConnectionWriter`.
//! Only the writes are timed: the other ends are drained between ticks, outside the
//! measurement, so no reader competes with the writers for the cores (on loopback the
//! kernel delivers each frame to the receiving socket inside the sender's write, so
//! that part of the receiver's cost is in the figure, as it is in the server's).
//! `fan_out_sockets/2` splits the members over two threads, as `server.room_threads: 2`
//! does with rooms; the ratio of the two is the speed-up a second core gives the
//! fan-out.
//!
//! `cargo bench --bench fan_out_sockets`

use criterion::{BenchmarkId, Criterion, Throughput};
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickcast::actors::link::MemberLink;
use tickcast::net::ws::ConnectionWriter;
use tickcast::protocol::{write_update_header, UpdateHeader};

const MEMBERS: usize = 1000;
/// A delta of 50 moving players in the arena is about this long.
const BODY: usize = 180;

/// The server ends, registered with a runtime whose reactor runs on its own thread.
struct Sockets {
    links: Vec<Arc<MemberLink>>,
    /// The client ends, non-blocking.
    clients: Vec<TcpStream>,
}

impl Sockets {
    /// Reads everything the clients were sent, so the next tick's writes all fit.
    fn drain(&self, buf: &mut [u8]) {
        for mut c in &self.clients {
            while let Ok(1..) = c.read(buf) {}
        }
    }
}

fn sockets() -> Sockets {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
    let handle = runtime.handle().clone();
    // The reactor (what turns the kernel's readiness into wake-ups) runs here.
    std::thread::spawn(move || runtime.block_on(std::future::pending::<()>()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut clients = Vec::with_capacity(MEMBERS);
    let mut links = Vec::with_capacity(MEMBERS);
    for _ in 0..MEMBERS {
        let client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        server.set_nodelay(true).unwrap();
        let stream = {
            let _in_runtime = handle.enter();
            tokio::net::TcpStream::from_std(server).unwrap()
        };
        let writer = Arc::new(ConnectionWriter::new(Arc::new(stream)));
        links.push(Arc::new(MemberLink::over(writer, None)));
        clients.push(client);
    }
    for c in &clients {
        c.set_nonblocking(true).unwrap();
    }
    Sockets { links, clients }
}

/// One tick's writes to `links`, as a room thread does them.
fn write_tick(links: &[Arc<MemberLink>], tick: u64, body: &[u8]) {
    let mut header = Vec::with_capacity(64);
    for (i, link) in links.iter().enumerate() {
        let h = UpdateHeader { tick, base_tick: tick - 1, ack_input: i as u32, server_time_us: tick * 50_000 };
        header.clear();
        write_update_header(&mut header, true, &h);
        link.send_tick(tick, &[&header, body]);
    }
}

fn fan_out_sockets(c: &mut Criterion) {
    let sockets = sockets();
    let body = vec![0x5a; BODY];
    let mut buf = vec![0u8; 64 * 1024];
    let mut tick = 1;
    let mut g = c.benchmark_group("fan_out_sockets");
    g.throughput(Throughput::Elements(MEMBERS as u64));
    for threads in [1usize, 2] {
        g.bench_with_input(BenchmarkId::from_parameter(threads), &threads, |b, &threads| {
            b.iter_custom(|iters| {
                let per_thread = MEMBERS.div_ceil(threads);
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    tick += 1;
                    let started = Instant::now();
                    std::thread::scope(|scope| {
                        for part in sockets.links.chunks(per_thread) {
                            let body = &body;
                            scope.spawn(move || write_tick(part, tick, body));
                        }
                    });
                    timed += started.elapsed();
                    sockets.drain(&mut buf);
                }
                timed
            });
        });
    }
    g.finish();
    let queued: u64 = sockets.links.iter().map(|l| l.pending_bytes()).sum();
    eprintln!("bytes left waiting in outboxes after the run (the kernel refused them): {queued}");
}

criterion::criterion_group!(benches, fan_out_sockets);
criterion::criterion_main!(benches);
