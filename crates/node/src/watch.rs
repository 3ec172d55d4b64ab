//! The waiting-thread watcher: readiness of an epoll fd delivered to JS on Node's own loop.
//! One thread per watched Epoll blocks until the epoll fd is readable, asks the JS thread
//! (through a threadsafe function) to poll and dispatch, and waits for that dispatch to finish
//! before it waits again, so a level-triggered fd never makes it spin. `unwatch` wakes it
//! through an eventfd and it exits; the JS side ignores a dispatch that was already queued.

use std::sync::{mpsc, Arc, Mutex};

use fdpoll_core::{wait_readable, Waker, Woken};
use napi::bindgen_prelude::{Either, Env, Function, Status};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use crate::neg_errno;

/// The JS dispatch callback as the waiting thread calls it.
type Dispatch = ThreadsafeFunction<(), (), (), Status, false>;

/// A running waiting thread, owned by the JS `Epoll` that watches.
#[napi]
pub struct Watcher {
    /// The waker and the callback until `stop` lets go of them: the thread holds the other
    /// references, so its exit closes the eventfd and releases the callback. (Kept until GC, they
    /// would never go: the callback, which the threadsafe function holds, refers to this object.)
    running: Option<(Arc<Waker>, Arc<Mutex<Dispatch>>)>,
}

/// Starts watching `epfd`: `dispatch()` is called on the JS thread each time it has events.
/// Returns the watcher, or `-errno` (the eventfd or the thread could not be made).
#[napi]
pub fn watch_start(epfd: i32, dispatch: Function<(), ()>) -> napi::Result<Either<Watcher, i32>> {
    let waker = match Waker::new() {
        Ok(waker) => Arc::new(waker),
        Err(e) => return Ok(Either::B(neg_errno(e))),
    };
    let dispatch = Arc::new(Mutex::new(dispatch.build_threadsafe_function::<()>().callee_handled::<false>().build()?));
    let (thread_waker, thread_dispatch) = (waker.clone(), dispatch.clone());
    let spawned = std::thread::Builder::new()
        .name("fdpoll-watch".into())
        .spawn(move || wait_and_dispatch(epfd, &thread_waker, &thread_dispatch));
    match spawned {
        Ok(_) => Ok(Either::A(Watcher { running: Some((waker, dispatch)) })),
        Err(e) => Ok(Either::B(neg_errno(e))),
    }
}

fn wait_and_dispatch(epfd: i32, waker: &Waker, dispatch: &Mutex<Dispatch>) {
    while let Ok(Some(Woken::Ready)) = wait_readable(epfd, waker, None) {
        let (done, finished) = mpsc::channel();
        let status = match dispatch.lock() {
            Ok(tsfn) => tsfn.call_with_return_value((), ThreadsafeFunctionCallMode::Blocking, move |_, _| {
                let _ = done.send(());
                Ok(())
            }),
            Err(_) => return,
        };
        // A dropped callback (the env is closing) drops `done`, which ends the wait too.
        if status != Status::Ok || finished.recv().is_err() {
            return;
        }
    }
}

#[napi]
impl Watcher {
    /// Stops the waiting thread and lets the loop exit; a dispatch already queued still runs
    /// (the caller ignores it). 0 or `-errno`; a second call does nothing.
    #[napi]
    pub fn stop(&mut self, env: Env) -> napi::Result<i32> {
        self.set_ref(env, false)?;
        match self.running.take() {
            Some((waker, _)) => Ok(waker.wake().map_or_else(neg_errno, |()| 0)),
            None => Ok(0),
        }
    }

    /// Whether the watcher keeps Node's loop alive (`ref`, the default) or not (`unref`).
    #[napi]
    #[allow(deprecated)] // refer/unref are the Node API this mirrors
    pub fn set_ref(&self, env: Env, keep_alive: bool) -> napi::Result<()> {
        let Some((_, dispatch)) = &self.running else { return Ok(()) };
        let mut tsfn = dispatch.lock().map_err(|_| napi::Error::from_reason("watcher lock poisoned"))?;
        if keep_alive {
            tsfn.refer(&env)
        } else {
            tsfn.unref(&env)
        }
    }
}
