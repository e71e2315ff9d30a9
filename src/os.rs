//! The little the service asks of the operating system beyond sockets and files.

use std::io;

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

/// The calling thread's nice value.
#[cfg(test)]
pub fn this_threads_nice() -> i32 {
    // SAFETY: plain integers in and out.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
}
