//! Reading many RTP datagrams per system call, each with the time the kernel received it.
//!
//! A receiver blocked in `recv` wakes for every packet: at 1,000 calls that is 50,000
//! wake-ups a second, and on a shared 2-core machine each one preempts the service in the middle
//! of its `sendto` (loopback delivers the packet inside the sender's system call) — a cost the
//! generator would charge to the service. So the receiver sleeps a few milliseconds at a time and
//! then drains the socket with `recvmmsg`. Arrival times do not suffer: with `SO_TIMESTAMPNS`
//! the kernel stamps each datagram as it queues it, which on loopback is the moment the service
//! sent it.
//!
//! No crate wraps `recvmmsg` with receive timestamps, so this is written against `libc`; all of
//! the unsafe code of the load generator's receive path is in this file.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Datagrams per `recvmmsg`.
pub const BATCH: usize = 64;
/// Longest datagram read; RTP from the service is 172 bytes.
const DATAGRAM: usize = 2048;
/// Room for one `SCM_TIMESTAMPNS` control message (CMSG_SPACE of a timespec is 32 bytes).
const CONTROL: usize = 64;

/// One datagram of a batch.
pub struct Datagram<'a> {
    pub data: &'a [u8],
    pub source: SocketAddr,
    /// When the kernel queued it (CLOCK_REALTIME, as `SO_TIMESTAMPNS` gives it); `None` when the
    /// kernel attached no timestamp.
    pub received: Option<Duration>,
}

/// Buffers for [`BATCH`] datagrams, reused for every call. The headers that point into them
/// live on the stack of [`Batch::drain`] only, so no raw pointer outlives a call.
pub struct Batch {
    data: Vec<[u8; DATAGRAM]>,
    names: Vec<libc::sockaddr_storage>,
    controls: Vec<[u8; CONTROL]>,
}

impl Batch {
    /// Buffers, and kernel receive timestamps switched on for `socket`.
    pub fn new(socket: &UdpSocket) -> io::Result<Batch> {
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
        Ok(Batch {
            data: vec![[0; DATAGRAM]; BATCH],
            // SAFETY: sockaddr_storage is a plain C struct; all-zero bytes are a valid value.
            names: vec![unsafe { zeroed() }; BATCH],
            controls: vec![[0; CONTROL]; BATCH],
        })
    }

    /// Reads what is queued, up to [`BATCH`] datagrams, without waiting; calls `each` for every
    /// one and returns how many there were (0 when the socket was empty).
    pub fn drain(
        &mut self,
        socket: &UdpSocket,
        mut each: impl FnMut(Datagram<'_>),
    ) -> io::Result<usize> {
        // SAFETY: iovec and mmsghdr are plain C structs; all-zero bytes are a valid value.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for (i, (iovec, header)) in iovecs.iter_mut().zip(headers.iter_mut()).enumerate() {
            *iovec = libc::iovec {
                iov_base: self.data[i].as_mut_ptr().cast(),
                iov_len: DATAGRAM,
            };
            let header = &mut header.msg_hdr;
            header.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            header.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_iov = iovec;
            header.msg_iovlen = 1;
            header.msg_control = self.controls[i].as_mut_ptr().cast();
            header.msg_controllen = CONTROL as _;
        }
        // SAFETY: every header describes buffers owned by `self` or by this frame, alive for
        // the call; the count passed is the length of `headers`.
        let count = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                BATCH as libc::c_uint,
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
        let count = count as usize;
        for (i, header) in headers.iter().enumerate().take(count) {
            let len = (header.msg_len as usize).min(DATAGRAM);
            let Some(source) = socket_addr(&self.names[i]) else {
                continue;
            };
            each(Datagram {
                data: &self.data[i][..len],
                source,
                received: kernel_timestamp(&header.msg_hdr),
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
        let mut batch = Batch::new(&receiver).unwrap();
        let mut seen = Vec::new();
        assert_eq!(batch.drain(&receiver, |_| unreachable!()).unwrap(), 0);

        let before = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        for n in 0..(BATCH + 6) {
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
        assert_eq!(batches, [BATCH, 6]);
        assert_eq!(seen.len(), BATCH + 6);
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
        assert!(
            seen.windows(2).all(|w| w[0].2 <= w[1].2),
            "in arrival order"
        );
    }
}
