//! Platform backends. Every `unsafe` block of the crate lives below this module.

#[cfg(target_os = "linux")]
mod epoll;
#[cfg(target_os = "linux")]
pub use epoll::*;

#[cfg(not(target_os = "linux"))]
compile_error!("fdpoll-core: only the Linux epoll backend exists so far (the mio backend is on the roadmap)");
