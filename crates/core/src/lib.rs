//! fdpoll-core: Python `select.epoll` semantics over the platform's readiness API, in pure Rust.
//! All `unsafe` code lives in the `sys` backends. The WebAssembly build (not Unix) has the poller
//! and no OS underneath: no sockets, poll/select, wakers or libuv handle.

#[cfg(unix)]
pub mod address;
#[cfg(unix)]
pub mod batch;
pub mod bits;
#[cfg(unix)]
pub mod multiplex;
mod poller;
#[cfg(unix)]
pub mod socket;
mod sys;
pub mod timeout;
#[cfg(unix)]
pub mod waker;

#[cfg(unix)]
pub use address::{resolve, Address, ResolveError};
pub use bits::READ_EVENTS;
pub use poller::{support, Events, Poller, Support, BACKEND, MAX_EVENTS_PER_POLL};
#[cfg(unix)]
pub use waker::{wait_readable, Waker, Woken};
pub use sys::close;
/// The WebAssembly build's table of virtual fds, which the host drives.
#[cfg(target_family = "wasm")]
pub use sys::memory;
/// A poller held by a private dup, to wait on and to tell whether its fd was closed behind its back.
#[cfg(unix)]
pub use sys::held::HeldPoller;
/// libuv's poll handle, for readiness on the host's (Node's) own event loop.
#[cfg(unix)]
pub use sys::uv::UvPoll;
