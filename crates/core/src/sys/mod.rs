//! Platform backends. Every `unsafe` block of the crate lives below this module.

#[cfg(target_os = "linux")]
mod epoll;
#[cfg(target_os = "linux")]
pub use epoll::*;
#[cfg(target_os = "linux")]
pub mod eventfd;

#[cfg(unix)]
pub mod multiplex;
#[cfg(unix)]
pub mod socket;
#[cfg(unix)]
pub mod uv;

use std::io;
use std::os::fd::RawFd;

/// `close(2)` of an fd the caller owns and forgets: an epoll fd or a socket.
pub fn close(fd: RawFd) -> io::Result<()> {
    // SAFETY: the caller owns `fd` and does not use it again; EINTR is not retried (Linux
    // releases the fd even then).
    if unsafe { libc::close(fd) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
compile_error!("fdpoll-core: only the Linux epoll backend exists so far (the mio backend is on the roadmap)");
