//! fdpoll-core: Python `select.epoll` semantics over the platform's readiness API, in pure Rust.
//! All `unsafe` code lives in the `sys` backends.

mod poller;
mod sys;

pub use poller::{Poller, MAX_EVENTS_PER_POLL};
