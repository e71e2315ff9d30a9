//! The little the service asks of the operating system beyond sockets and files.

use std::io;

/// Caps glibc's malloc arenas at `arenas`, unless the operator set `MALLOC_ARENA_MAX`. glibc
/// gives threads that contend for the heap arenas of their own, up to eight per core, and keeps
/// what is freed in each: with the async, SQLite, hashing and media threads (and the blocking
/// pool's, which come and go), the service's RSS crept up a megabyte at a time over tens of
/// thousands of calls while its live heap stayed flat (docs/performance.md, soak). Two arenas
/// held it flat. Call before any thread starts.
pub fn limit_malloc_arenas(arenas: i32) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt takes and returns plain integers; on an unknown parameter it fails
        // with 0, which leaves glibc's default in place.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = arenas;
}

/// Sets the nice value of the calling thread only (Linux keeps one per thread): the media
/// threads ask for more than the async workers, the hashing threads for less. Raising priority
/// (a negative value) needs root or CAP_SYS_NICE; without it the call fails and the thread
/// keeps its priority, which is still correct, just less punctual under load.
pub fn set_this_threads_nice(nice: i32) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority take and return plain integers.
        let rc = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
    Ok(())
}

/// Puts the calling thread under SCHED_FIFO at `priority` (1–99): it then runs as soon as it
/// wakes, ahead of every normal thread on its core whatever their nice value — what a thread
/// that must send a frame every 20 ms wants. The kernel's real-time throttling still leaves
/// normal threads 5 % of each core should such a thread never sleep. Needs root, CAP_SYS_NICE
/// or an RLIMIT_RTPRIO at least `priority` (systemd: `LimitRTPRIO=`); without it the call fails
/// and the thread keeps its policy. Children forked by the thread would start normal
/// (SCHED_RESET_ON_FORK).
pub fn set_this_threads_realtime(priority: u8) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param {
            sched_priority: libc::c_int::from(priority),
        };
        // SAFETY: a plain struct passed by reference for the duration of the call; pid 0 is
        // the calling thread.
        let rc = unsafe {
            libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = priority;
    Ok(())
}

/// The calling thread's scheduling policy (without the reset-on-fork flag) and real-time
/// priority (0 for normal threads).
#[cfg(test)]
pub fn this_threads_policy() -> (libc::c_int, libc::c_int) {
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` is written for the duration of the call.
    unsafe {
        libc::sched_getparam(0, &mut param);
        (
            libc::sched_getscheduler(0) & !libc::SCHED_RESET_ON_FORK,
            param.sched_priority,
        )
    }
}

/// The calling thread's nice value.
#[cfg(test)]
pub fn this_threads_nice() -> i32 {
    // SAFETY: plain integers in and out.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
}

/// This machine's host name, if it has one that is UTF-8.
pub fn host_name() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname NUL-terminates within it
    // when the name fits, and we stop at the first NUL or the end either way.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if status != 0 {
        return None;
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    let name = std::str::from_utf8(&buffer[..end]).ok()?;
    (!name.is_empty()).then(|| name.to_owned())
}
