//! The RTP port range: one even port per call, handed out as a lease that gives it back on drop.
//!
//! Ports are chosen round-robin from the last one handed out rather than lowest-first, so a port
//! freed by a call that just ended is not reused at once (late packets of the old call would
//! land in the new one). Only the even RTP port is bound; we send no RTCP, and the odd port
//! is left alone (RFC 3550 §11 pairs them by convention only).

use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug)]
struct PoolState {
    leased: BTreeSet<u16>,
    /// Where the next search starts.
    cursor: u32,
}

/// The configured `media.rtp_port_min ..= media.rtp_port_max`, shared by all calls.
#[derive(Debug, Clone)]
pub struct PortPool {
    /// Even; u32 so that stepping past 65535 needs no care.
    min: u32,
    max: u32,
    state: Arc<Mutex<PoolState>>,
}

impl PortPool {
    /// A pool of the even ports in `min ..= max`. An odd `min` starts at the next even port;
    /// a range without an even port makes every [`PortPool::bind`] fail as exhausted.
    pub fn new(min: u16, max: u16) -> PortPool {
        let min = u32::from(min) + u32::from(min % 2);
        let max = u32::from(max);
        PortPool {
            min,
            max,
            state: Arc::new(Mutex::new(PoolState {
                leased: BTreeSet::new(),
                cursor: min,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // The state stays consistent even if a holder panicked: it is one set insert/remove.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The even ports of the range, starting at `from` and wrapping once around.
    fn candidates(&self, from: u32) -> impl Iterator<Item = u16> + use<> {
        let (min, max) = (self.min, self.max);
        let from = from + from % 2;
        let from = if (min..=max).contains(&from) {
            from
        } else {
            min
        };
        // `lo` is always even here; ports above 65535 cannot occur but are not worth a panic.
        let evens = |lo: u32, hi: u32| (lo..=hi).step_by(2).filter_map(|p| u16::try_from(p).ok());
        evens(from, max).chain(evens(min, from.saturating_sub(1)))
    }

    /// Binds a non-blocking UDP socket on `ip` at a free even port of the range, skipping ports
    /// leased to other calls and ports another process holds. The socket is a plain one, not
    /// registered with tokio: the media pump polls it once per tick (see `media::pump`).
    pub fn bind(&self, ip: IpAddr) -> io::Result<(std::net::UdpSocket, PortLease)> {
        let mut state = self.lock();
        for port in self.candidates(state.cursor) {
            if state.leased.contains(&port) {
                continue;
            }
            match std::net::UdpSocket::bind(SocketAddr::new(ip, port)) {
                Ok(socket) => {
                    socket.set_nonblocking(true)?;
                    state.leased.insert(port);
                    state.cursor = u32::from(port) + 2;
                    let lease = PortLease {
                        port,
                        state: Arc::clone(&self.state),
                    };
                    return Ok((socket, lease));
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "no free even RTP port in {}-{} ({} in use by calls)",
                self.min,
                self.max,
                state.leased.len()
            ),
        ))
    }

    /// How many ports calls hold now.
    pub fn leased(&self) -> usize {
        self.lock().leased.len()
    }

    /// How many ports no call holds (each call takes one even port).
    pub fn free(&self) -> usize {
        let even_ports = if self.max >= self.min {
            ((self.max - self.min) / 2 + 1) as usize
        } else {
            0
        };
        even_ports.saturating_sub(self.leased())
    }
}

/// One call's port; returned to the pool when dropped (with the call's media session).
#[derive(Debug)]
pub struct PortLease {
    port: u16,
    state: Arc<Mutex<PoolState>>,
}

impl PortLease {
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.leased.remove(&self.port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// A range of `n` even ports that nothing else is using right now, found by binding. Each
    /// call starts its search elsewhere, so tests running in parallel do not probe the same range.
    fn free_range(n: u16) -> (u16, u16) {
        static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
        let call = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let offset = ((std::process::id() % 50) as u16 + call * 10) % 100 * 2;
        for base in (20000..32000u16).step_by(200).map(|b| b + offset) {
            let holds: Vec<_> = (0..n)
                .map(|i| std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, base + 2 * i)))
                .collect();
            if holds.iter().all(Result::is_ok) {
                return (base, base + 2 * (n - 1));
            }
        }
        panic!("no free port range on this machine");
    }

    #[tokio::test]
    async fn hands_out_distinct_even_ports_and_errors_when_exhausted() {
        let (min, max) = free_range(3);
        let pool = PortPool::new(min, max + 1); // the odd top port is never used
        assert_eq!(pool.free(), 3);
        let mut held = Vec::new();
        for _ in 0..3 {
            let (socket, lease) = pool.bind(LOCALHOST).unwrap();
            assert_eq!(socket.local_addr().unwrap().port(), lease.port());
            assert_eq!(lease.port() % 2, 0);
            assert!((min..=max).contains(&lease.port()));
            held.push((socket, lease));
        }
        let mut ports: Vec<_> = held.iter().map(|(_, l)| l.port()).collect();
        ports.dedup();
        assert_eq!(ports.len(), 3);
        assert_eq!(pool.leased(), 3);
        assert_eq!(pool.free(), 0);
        let err = pool.bind(LOCALHOST).unwrap_err();
        assert!(err.to_string().contains("no free even RTP port"), "{err}");
    }

    #[tokio::test]
    async fn dropping_the_lease_returns_the_port() {
        let (min, max) = free_range(1);
        let pool = PortPool::new(min, max);
        let (socket, lease) = pool.bind(LOCALHOST).unwrap();
        assert!(pool.bind(LOCALHOST).is_err());
        drop(socket);
        drop(lease);
        assert_eq!(pool.leased(), 0);
        let (_socket, lease) = pool.bind(LOCALHOST).unwrap();
        assert_eq!(lease.port(), min);
    }

    #[tokio::test]
    async fn skips_ports_another_process_holds() {
        let (min, max) = free_range(2);
        let _squatter = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, min)).unwrap();
        let pool = PortPool::new(min, max);
        let (_socket, lease) = pool.bind(LOCALHOST).unwrap();
        assert_eq!(lease.port(), max);
        assert_eq!(pool.leased(), 1);
    }

    #[tokio::test]
    async fn does_not_reuse_a_just_freed_port_first() {
        let (min, max) = free_range(3);
        let pool = PortPool::new(min, max);
        let (s1, first) = pool.bind(LOCALHOST).unwrap();
        let first_port = first.port();
        drop((s1, first));
        let (_s2, second) = pool.bind(LOCALHOST).unwrap();
        assert_ne!(second.port(), first_port);
    }

    #[test]
    fn candidates_cover_the_range_once_from_any_start() {
        let pool = PortPool::new(11, 20); // 12, 14, 16, 18, 20
        for from in [0, 12, 15, 16, 20, 22] {
            let mut got: Vec<_> = pool.candidates(from).collect();
            got.sort_unstable();
            assert_eq!(got, [12, 14, 16, 18, 20], "from {from}");
        }
        assert_eq!(pool.candidates(16).next(), Some(16));
        assert_eq!(PortPool::new(10, 9).candidates(10).count(), 0);
        assert_eq!(PortPool::new(10, 9).free(), 0);
        assert_eq!(PortPool::new(11, 20).free(), 5);
        assert_eq!(
            PortPool::new(65534, 65535)
                .candidates(65536)
                .collect::<Vec<_>>(),
            [65534]
        );
        assert_eq!(PortPool::new(65535, 65535).candidates(0).count(), 0);
    }
}
