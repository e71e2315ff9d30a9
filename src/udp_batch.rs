//! Reading many UDP datagrams per system call, optionally with the time the kernel received
//! each one.
//!
//! The media pump reads every call's RTP socket once per 20 ms: `recvfrom` until `EAGAIN` is two
//! system calls for the one packet a caller sends in that time, one `recvmmsg` is one
//! (docs/performance.md). The load generator reads all its calls' RTP from one socket a few
//! milliseconds at a time, with `SO_TIMESTAMPNS` so each datagram keeps the moment the kernel
//! queued it — on loopback, the moment the service sent it — however late the read.
//!
//! No crate wraps `recvmmsg` with receive timestamps, so this is written against `libc`; all of
//! the unsafe code of those receive paths is in this file.

use std::io;
use std::mem::{MaybeUninit, size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// The most datagrams one [`RecvBatch`] reads per system call: the headers of a read live on
/// the stack, this many at most.
pub const MAX_BATCH: usize = 64;
/// Longest datagram read; anything longer is truncated (and then fails to parse as RTP, whose
/// packets here are 172 bytes).
pub const DATAGRAM: usize = 2048;
/// Room for one `SCM_TIMESTAMPNS` control message (CMSG_SPACE of a timespec is 32 bytes).
const CONTROL: usize = 64;

/// One datagram of a batch.
pub struct Datagram<'a> {
    pub data: &'a [u8],
    pub source: SocketAddr,
    /// When the kernel queued it (CLOCK_REALTIME, as `SO_TIMESTAMPNS` gives it); `None` when the
    /// kernel attached no timestamp, or none was asked for.
    pub received: Option<Duration>,
}

/// Buffers for up to [`MAX_BATCH`] datagrams, reused for every read. The headers that point
/// into them live on the stack of [`RecvBatch::drain`] only, so no raw pointer outlives a read
/// (and the batch can move between threads).
pub struct RecvBatch {
    data: Vec<[u8; DATAGRAM]>,
    names: Vec<libc::sockaddr_storage>,
    /// Empty unless kernel timestamps were asked for.
    controls: Vec<[u8; CONTROL]>,
}

impl RecvBatch {
    /// Buffers for `capacity` datagrams a read (at most [`MAX_BATCH`]), without timestamps.
    pub fn new(capacity: usize) -> RecvBatch {
        let capacity = capacity.clamp(1, MAX_BATCH);
        RecvBatch {
            data: vec![[0; DATAGRAM]; capacity],
            // SAFETY: sockaddr_storage is a plain C struct; all-zero bytes are a valid value.
            names: vec![unsafe { zeroed() }; capacity],
            controls: Vec::new(),
        }
    }

    /// Buffers for `capacity` datagrams a read, and kernel receive timestamps switched on for
    /// `socket`.
    pub fn with_kernel_timestamps(socket: &UdpSocket, capacity: usize) -> io::Result<RecvBatch> {
        let on: libc::c_int = 1;
        // SAFETY: an open socket, and an int option whose exact size is passed.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut batch = RecvBatch::new(capacity);
        batch.controls = vec![[0; CONTROL]; batch.capacity()];
        Ok(batch)
    }

    /// How many datagrams one read takes at most.
    pub fn capacity(&self) -> usize {
        self.data.len()
    }

    /// Reads what is queued, up to [`RecvBatch::capacity`] datagrams, in one system call and
    /// without waiting; calls `each` for every one and returns how many there were (0 when the
    /// socket was empty).
    pub fn drain(
        &mut self,
        socket: &UdpSocket,
        mut each: impl FnMut(Datagram<'_>),
    ) -> io::Result<usize> {
        let capacity = self.capacity();
        let timestamps = !self.controls.is_empty();
        let mut iovecs = [const { MaybeUninit::<libc::iovec>::uninit() }; MAX_BATCH];
        let mut headers = [const { MaybeUninit::<libc::mmsghdr>::uninit() }; MAX_BATCH];
        for i in 0..capacity {
            let iovec = iovecs[i].write(libc::iovec {
                iov_base: self.data[i].as_mut_ptr().cast(),
                iov_len: DATAGRAM,
            });
            // SAFETY: mmsghdr is a plain C struct; all-zero bytes are a valid value.
            let mut header: libc::mmsghdr = unsafe { zeroed() };
            let hdr = &mut header.msg_hdr;
            hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = iovec;
            hdr.msg_iovlen = 1;
            if timestamps {
                hdr.msg_control = self.controls[i].as_mut_ptr().cast();
                hdr.msg_controllen = CONTROL as _;
            }
            headers[i].write(header);
        }
        // SAFETY: the first `capacity` headers are initialised and describe buffers owned by
        // `self` or by this frame, alive for the call; the count passed is `capacity`.
        let count = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr().cast::<libc::mmsghdr>(),
                capacity as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if count < 0 {
            let error = io::Error::last_os_error();
            return match error.kind() {
                io::ErrorKind::WouldBlock => Ok(0),
                _ => Err(error),
            };
        }
        let count = (count as usize).min(capacity);
        for (i, header) in headers.iter().enumerate().take(count) {
            // SAFETY: initialised above (i < capacity), and filled by the kernel.
            let header = unsafe { header.assume_init_ref() };
            let len = (header.msg_len as usize).min(DATAGRAM);
            let Some(source) = socket_addr(&self.names[i]) else {
                continue;
            };
            each(Datagram {
                data: &self.data[i][..len],
                source,
                received: if timestamps {
                    kernel_timestamp(&header.msg_hdr)
                } else {
                    None
                },
            });
        }
        Ok(count)
    }
}

fn socket_addr(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large
            // enough and aligned for.
            let v4 =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let v6 =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// The `SCM_TIMESTAMPNS` control message of a received datagram, if the kernel attached one.
fn kernel_timestamp(header: &libc::msghdr) -> Option<Duration> {
    // SAFETY: `header` was filled by recvmmsg; CMSG_FIRSTHDR/NXTHDR walk only within its
    // control buffer, whose length the kernel set, and the timespec is read unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(header);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let stamp =
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::timespec>());
                return Some(Duration::new(stamp.tv_sec as u64, stamp.tv_nsec as u32));
            }
            cmsg = libc::CMSG_NXTHDR(header, cmsg);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn drains_queued_datagrams_with_their_sources_and_kernel_times() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = RecvBatch::with_kernel_timestamps(&receiver, MAX_BATCH).unwrap();
        let mut seen = Vec::new();
        assert_eq!(batch.drain(&receiver, |_| unreachable!()).unwrap(), 0);

        let before = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        for n in 0..(MAX_BATCH + 6) {
            sender
                .send_to(&[n as u8; 12], receiver.local_addr().unwrap())
                .unwrap();
        }
        let after = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        let mut batches = Vec::new();
        loop {
            let n = batch
                .drain(&receiver, |d| {
                    seen.push((d.data.to_vec(), d.source, d.received));
                })
                .unwrap();
            if n == 0 {
                break;
            }
            batches.push(n);
        }
        assert_eq!(batches, [MAX_BATCH, 6]);
        assert_eq!(seen.len(), MAX_BATCH + 6);
        for (n, (data, source, received)) in seen.iter().enumerate() {
            assert_eq!(data, &vec![n as u8; 12]);
            assert_eq!(*source, sender.local_addr().unwrap());
            let received = received.expect("a kernel timestamp");
            // The kernel stamps with its own read of CLOCK_REALTIME, which can disagree with
            // the vDSO's by a little (a flaky exact bound seen here): a millisecond of slack.
            let slack = Duration::from_millis(1);
            assert!(
                before.saturating_sub(slack) <= received && received <= after + slack,
                "{received:?} not within {before:?}..{after:?}"
            );
        }
        // In arrival order, to the same slack: the stamps are CLOCK_REALTIME reads, which may
        // step back by microseconds between two datagrams on a loaded machine (seen in CI).
        let slack = Duration::from_millis(1);
        assert!(
            seen.windows(2).all(|w| w[0].2 <= w[1].2.map(|t| t + slack)),
            "in arrival order"
        );
    }

    #[test]
    fn without_timestamps_reads_at_most_its_capacity_per_call() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = RecvBatch::new(16);
        for n in 0..20u8 {
            sender
                .send_to(&[n; 3], receiver.local_addr().unwrap())
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut counts = Vec::new();
        loop {
            let n = batch
                .drain(&receiver, |d| {
                    assert!(d.received.is_none(), "no timestamp asked for");
                    seen.push(d.data[0]);
                })
                .unwrap();
            if n == 0 {
                break;
            }
            counts.push(n);
        }
        assert_eq!(counts, [16, 4]);
        assert_eq!(seen, (0..20).collect::<Vec<u8>>());
    }

    #[test]
    fn a_datagram_longer_than_the_buffer_is_truncated_not_fatal() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = RecvBatch::new(4);
        sender
            .send_to(&[7; DATAGRAM + 100], receiver.local_addr().unwrap())
            .unwrap();
        sender
            .send_to(&[8; 10], receiver.local_addr().unwrap())
            .unwrap();
        let mut lengths = Vec::new();
        batch
            .drain(&receiver, |d| lengths.push(d.data.len()))
            .unwrap();
        assert_eq!(lengths, [DATAGRAM, 10]);
    }
}
