//! Readiness of an epoll fd delivered to JS on Node's own loop, in one of two ways:
//! - Node's loop watches the epoll fd itself (libuv's `uv_poll`, found in the process): no
//!   thread. Each readiness stops the poll, hands the dispatch to JS, and restarts the poll
//!   once the dispatch returned.
//! - Where libuv cannot be reached, one thread per watched Epoll blocks until the epoll fd is
//!   readable, hands the dispatch to JS, and waits for it to finish before waiting again.
//!
//! Either way a level-triggered fd never spins. The hand-off is a threadsafe function, which
//! runs JS in Node's callback scope (microtasks drain after it); its ref keeps the loop alive
//! (`setRef`). The JS side ignores a dispatch that was queued before `unwatch`.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};

use fdpoll_core::{wait_readable, UvPoll, Waker, Woken};
use napi::bindgen_prelude::{Either, Env, Function, Status};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use crate::neg_errno;

/// The JS dispatch callback as the poll callback or the waiting thread calls it.
type Dispatch = ThreadsafeFunction<(), (), (), Status, false>;

/// How a watch is running.
enum Running {
    /// Node's loop polls the epoll fd.
    Loop { poll: UvPoll, dispatch: Rc<RefCell<Dispatch>> },
    /// A waiting thread; it holds the other references, so its exit closes the waker and
    /// releases the callback.
    Thread { waker: Arc<Waker>, dispatch: Arc<Mutex<Dispatch>> },
}

/// A running watch, owned by the JS `Epoll` that watches. `stop` lets go of everything: kept
/// until GC, nothing would go, since the callback refers back to this object.
#[napi]
pub struct Watcher {
    running: Option<Running>,
}

/// Starts watching `epfd`: `dispatch()` is called on the JS thread each time it has events.
/// With `thread` (or where libuv is not found) a waiting thread is used. Returns the watcher,
/// or `-errno`.
#[napi]
pub fn watch_start(env: Env, epfd: i32, dispatch: Function<(), ()>, thread: bool) -> napi::Result<Either<Watcher, i32>> {
    let tsfn = dispatch.build_threadsafe_function::<()>().callee_handled::<false>().build()?;
    if !thread {
        let dispatch = Rc::new(RefCell::new(tsfn));
        match watch_on_loop(&env, epfd, dispatch.clone()) {
            Ok(poll) => return Ok(Either::A(Watcher { running: Some(Running::Loop { poll, dispatch }) })),
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                let tsfn = Rc::try_unwrap(dispatch).map_err(|_| napi::Error::from_reason("dispatch still shared"))?;
                return watch_on_thread(epfd, tsfn.into_inner());
            }
            Err(e) => return Ok(Either::B(neg_errno(e))),
        }
    }
    watch_on_thread(epfd, tsfn)
}

fn watch_on_loop(env: &Env, epfd: i32, dispatch: Rc<RefCell<Dispatch>>) -> std::io::Result<UvPoll> {
    let uv_loop = env.get_uv_event_loop().map_err(|_| std::io::Error::from(std::io::ErrorKind::Unsupported))?;
    let poll = UvPoll::new(uv_loop.cast(), epfd, move |poll, status| {
        poll.stop(); // no more readiness until this dispatch has run
        if status < 0 {
            return; // the epoll fd went away: the watch ends
        }
        let again = poll.clone();
        dispatch.borrow().call_with_return_value((), ThreadsafeFunctionCallMode::NonBlocking, move |_, _| {
            again.start().map_err(|e| napi::Error::from_reason(e.to_string()))
        });
    })?;
    poll.set_ref(false); // the threadsafe function's ref is what keeps the loop alive
    if let Err(e) = poll.start() {
        poll.close();
        return Err(e);
    }
    Ok(poll)
}

fn watch_on_thread(epfd: i32, tsfn: Dispatch) -> napi::Result<Either<Watcher, i32>> {
    let waker = match Waker::new() {
        Ok(waker) => Arc::new(waker),
        Err(e) => return Ok(Either::B(neg_errno(e))),
    };
    let dispatch = Arc::new(Mutex::new(tsfn));
    let (thread_waker, thread_dispatch) = (waker.clone(), dispatch.clone());
    let spawned = std::thread::Builder::new()
        .name("fdpoll-watch".into())
        .spawn(move || wait_and_dispatch(epfd, &thread_waker, &thread_dispatch));
    match spawned {
        Ok(_) => Ok(Either::A(Watcher { running: Some(Running::Thread { waker, dispatch }) })),
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
    /// Stops watching and lets the loop exit; a dispatch already queued still runs (the caller
    /// ignores it). 0 or `-errno`; a second call does nothing.
    #[napi]
    pub fn stop(&mut self, env: Env) -> napi::Result<i32> {
        self.set_ref(env, false)?;
        match self.running.take() {
            Some(Running::Loop { poll, .. }) => {
                poll.close();
                Ok(0)
            }
            Some(Running::Thread { waker, .. }) => Ok(waker.wake().map_or_else(neg_errno, |()| 0)),
            None => Ok(0),
        }
    }

    /// True when Node's loop watches the epoll fd itself; false for a waiting thread.
    #[napi(getter)]
    pub fn on_loop(&self) -> bool {
        matches!(self.running, Some(Running::Loop { .. }))
    }

    /// Whether the watcher keeps Node's loop alive (`ref`, the default) or not (`unref`).
    #[napi]
    pub fn set_ref(&self, env: Env, keep_alive: bool) -> napi::Result<()> {
        match &self.running {
            Some(Running::Loop { dispatch, .. }) => set_tsfn_ref(&mut dispatch.borrow_mut(), &env, keep_alive),
            Some(Running::Thread { dispatch, .. }) => {
                let mut tsfn = dispatch.lock().map_err(|_| napi::Error::from_reason("watcher lock poisoned"))?;
                set_tsfn_ref(&mut tsfn, &env, keep_alive)
            }
            None => Ok(()),
        }
    }
}

#[allow(deprecated)] // refer/unref are the Node API this mirrors
fn set_tsfn_ref(tsfn: &mut Dispatch, env: &Env, keep_alive: bool) -> napi::Result<()> {
    if keep_alive {
        tsfn.refer(env)
    } else {
        tsfn.unref(env)
    }
}
