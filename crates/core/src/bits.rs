//! fdpoll's event bits: the Linux kernel's epoll values, on every platform. A backend whose OS
//! has other values (or none) maps to and from these.

/// Readable.
pub const EPOLLIN: u32 = 0x001;
/// Urgent (out-of-band) data to read.
pub const EPOLLPRI: u32 = 0x002;
/// Writable.
pub const EPOLLOUT: u32 = 0x004;
/// Error condition; always reported, whatever the mask.
pub const EPOLLERR: u32 = 0x008;
/// Hang up; always reported, whatever the mask.
pub const EPOLLHUP: u32 = 0x010;
/// Normal data readable.
pub const EPOLLRDNORM: u32 = 0x040;
/// Priority data readable.
pub const EPOLLRDBAND: u32 = 0x080;
/// Normal data writable.
pub const EPOLLWRNORM: u32 = 0x100;
/// Priority data writable.
pub const EPOLLWRBAND: u32 = 0x200;
/// Unused by Linux.
pub const EPOLLMSG: u32 = 0x400;
/// The peer shut down its writing half.
pub const EPOLLRDHUP: u32 = 0x2000;
/// Wake one or more of the epoll instances waiting on the same fd, not all (register only).
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
/// Disarm after one event until `modify` re-arms.
pub const EPOLLONESHOT: u32 = 1 << 30;
/// Edge-triggered: report changes, not states.
pub const EPOLLET: u32 = 1 << 31;

/// The event bits after which a read does not block: data, end of stream, or an error to report.
pub const READ_EVENTS: u32 = EPOLLIN | EPOLLERR | EPOLLHUP;

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_values_are_the_kernels() {
        let pairs = [
            (EPOLLIN, libc::EPOLLIN),
            (EPOLLPRI, libc::EPOLLPRI),
            (EPOLLOUT, libc::EPOLLOUT),
            (EPOLLERR, libc::EPOLLERR),
            (EPOLLHUP, libc::EPOLLHUP),
            (EPOLLRDNORM, libc::EPOLLRDNORM),
            (EPOLLRDBAND, libc::EPOLLRDBAND),
            (EPOLLWRNORM, libc::EPOLLWRNORM),
            (EPOLLWRBAND, libc::EPOLLWRBAND),
            (EPOLLMSG, libc::EPOLLMSG),
            (EPOLLRDHUP, libc::EPOLLRDHUP),
            (EPOLLEXCLUSIVE, libc::EPOLLEXCLUSIVE),
            (EPOLLONESHOT, libc::EPOLLONESHOT),
            (EPOLLET, libc::EPOLLET),
        ];
        for (ours, kernel) in pairs {
            assert_eq!(ours, kernel as u32);
        }
    }
}
