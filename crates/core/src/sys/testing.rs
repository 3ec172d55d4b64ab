//! Helpers that tests of the layers above need and that take `unsafe`.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// A pipe as (read end, write end), both non-blocking and close-on-exec.
pub fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds pipe writes.
    let ret = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(ret, 0, "pipe: {}", io::Error::last_os_error());
    for fd in fds {
        // SAFETY: fcntl on an fd this function just opened; no pointers.
        let ok = unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) == 0 && libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) == 0 };
        assert!(ok, "fcntl: {}", io::Error::last_os_error());
    }
    (fds[0], fds[1])
}

/// Writes `data` to `fd`, returning how much was written.
pub fn write(fd: RawFd, data: &[u8]) -> isize {
    // SAFETY: `data` is valid for `data.len()` bytes for the whole call.
    unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) }
}

/// Reads into `buf`, returning how much was read (or -1).
pub fn read(fd: RawFd, buf: &mut [u8]) -> isize {
    // SAFETY: `buf` is valid and writable for `buf.len()` bytes for the whole call.
    unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }
}

/// Duplicates `fd` onto the number `target` (far above the fds that parallel tests open,
/// so no other test can reuse it between a close and the check that follows).
pub fn dup_to(fd: RawFd, target: RawFd) -> RawFd {
    // SAFETY: dup2 takes no pointers; the test owns `target` from here on.
    let ret = unsafe { libc::dup2(fd, target) };
    assert_eq!(ret, target, "dup2: {}", io::Error::last_os_error());
    ret
}

extern "C" fn ignore(_: libc::c_int) {}

/// Sends SIGUSR1 (with a no-op handler, no SA_RESTART) to the calling thread after `delay`,
/// so a blocking call on it fails with EINTR.
pub fn interrupt_me_after(delay: Duration) -> std::thread::JoinHandle<()> {
    // SAFETY: a zeroed sigaction with a plain handler and empty mask is valid; the handler
    // is async-signal-safe (it does nothing).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ignore as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()), 0);
    }
    // SAFETY: pthread_self has no preconditions.
    let target = unsafe { libc::pthread_self() } as usize;
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        // SAFETY: the target thread is still blocked in the test that spawned us.
        unsafe { libc::pthread_kill(target as libc::pthread_t, libc::SIGUSR1) };
    })
}

/// Sends `byte` as urgent (out-of-band) data on the connected TCP socket `fd`.
#[cfg(target_os = "linux")]
pub fn send_urgent(fd: RawFd, byte: u8) {
    // SAFETY: `byte` is one readable byte for the whole call.
    let sent = unsafe { libc::send(fd, (&byte as *const u8).cast(), 1, libc::MSG_OOB) };
    assert_eq!(sent, 1, "send(MSG_OOB): {}", io::Error::last_os_error());
}
