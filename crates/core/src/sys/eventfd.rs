//! Linux's waker: one eventfd(2), a counter that is readable while non-zero. The same shape as
//! `sys::pipe` (`create`, `wake`, `reset`, `close`, each naming the waker by its fd).

use std::io;
use std::os::fd::RawFd;

/// A non-blocking, close-on-exec eventfd.
pub fn create() -> io::Result<RawFd> {
    // SAFETY: no pointers are passed.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Adds 1 to the counter, making the fd readable.
pub fn wake(fd: RawFd) -> io::Result<()> {
    let one = 1u64.to_ne_bytes();
    // SAFETY: `one` is 8 readable bytes for the whole call.
    if unsafe { libc::write(fd, one.as_ptr().cast(), one.len()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Resets the counter (EAGAIN, when it was already 0, is not an error).
pub fn reset(fd: RawFd) -> io::Result<()> {
    let mut count = [0u8; 8];
    // SAFETY: `count` is 8 writable bytes for the whole call.
    if unsafe { libc::read(fd, count.as_mut_ptr().cast(), count.len()) } < 0 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::WouldBlock {
            return Err(err);
        }
    }
    Ok(())
}

/// Closes the eventfd.
pub fn close(fd: RawFd) -> io::Result<()> {
    super::close(fd)
}
