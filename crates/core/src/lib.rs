//! fdpoll-core: Python `select.epoll` semantics over the platform's readiness API, in pure Rust.
//! All `unsafe` code lives in the `sys` backends.

pub mod address;
pub mod multiplex;
mod poller;
mod sys;
pub mod timeout;
pub mod waker;

pub use address::{resolve, Address, ResolveError};
pub use poller::{Events, Poller, MAX_EVENTS_PER_POLL};
pub use waker::{wait_readable, Waker, Woken};
pub use sys::{close, READ_EVENTS};
/// The socket calls: safe wrappers over the platform's BSD socket API.
pub use sys::socket;
/// libuv's poll handle, for readiness on the host's (Node's) own event loop.
pub use sys::uv::UvPoll;
