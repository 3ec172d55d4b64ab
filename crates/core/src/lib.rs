//! fdpoll-core: Python `select.epoll` semantics over the platform's readiness API, in pure Rust.
//! All `unsafe` code lives in the `sys` backends.

pub mod address;
pub mod batch;
pub mod bits;
pub mod multiplex;
mod poller;
pub mod socket;
mod sys;
pub mod timeout;
pub mod waker;

pub use address::{resolve, Address, ResolveError};
pub use bits::READ_EVENTS;
pub use poller::{support, Events, Poller, Support, BACKEND, MAX_EVENTS_PER_POLL};
pub use waker::{wait_readable, Waker, Woken};
pub use sys::close;
/// libuv's poll handle, for readiness on the host's (Node's) own event loop.
pub use sys::uv::UvPoll;
