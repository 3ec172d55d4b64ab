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
//!
//! Both wait on a private dup of the epoll fd (`HeldPoller`), never on the owner's number, which
//! user code may close behind the watch's back: libuv would abort re-arming a closed fd, and
//! would hand a reused number's readiness (another file's, perhaps a Node socket's) to the
//! watch. The dispatch gets a status: 0 when the poller has events, `-errno` when the wait
//! failed and the watch is over. `check` says whether the owner's number still names the
//! watched poller; the JS side asks it now and then, off the hot path.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};

use fdpoll_core::{wait_readable, HeldPoller, UvPoll, Waker, Woken};
use napi::bindgen_prelude::{Either, Env, Function, Status};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use crate::neg_errno;

/// The JS dispatch callback as the poll callback or the waiting thread calls it, with the status.
type Dispatch = ThreadsafeFunction<i32, (), i32, Status, false>;

/// How a watch is running.
enum Running {
    /// Node's loop polls the epoll fd.
    Loop { poll: UvPoll, dispatch: Rc<RefCell<Dispatch>> },
    /// A waiting thread; it holds the other references, so its exit closes the waker, releases
    /// the callback and lets go of the held poller.
    Thread { waker: Arc<Waker>, dispatch: Arc<Mutex<Dispatch>> },
}

/// A running watch, owned by the JS `Epoll` that watches. `stop` lets go of everything: kept
/// until GC, nothing would go, since the callback refers back to this object.
#[napi]
pub struct Watcher {
    running: Option<Running>,
    /// The owner's epoll fd, which `check` compares with the held poller.
    epfd: i32,
    /// The poller the watch waits on, through its own fd; `None` once stopped.
    held: Option<Arc<HeldPoller>>,
}

/// Starts watching `epfd`: `dispatch(status)` is called on the JS thread each time it has
/// events (status 0) or once the wait has failed (`-errno`). With `thread` (or where libuv is
/// not found) a waiting thread is used. Returns the watcher, or `-errno`.
#[napi]
pub fn watch_start(env: Env, epfd: i32, dispatch: Function<i32, ()>, thread: bool) -> napi::Result<Either<Watcher, i32>> {
    let held = match HeldPoller::of(epfd) {
        Ok(held) => Arc::new(held),
        Err(e) => return Ok(Either::B(neg_errno(e))),
    };
    let tsfn = dispatch.build_threadsafe_function::<i32>().callee_handled::<false>().build()?;
    let watcher = |running| Either::A(Watcher { running: Some(running), epfd, held: Some(held.clone()) });
    if !thread {
        let dispatch = Rc::new(RefCell::new(tsfn));
        match watch_on_loop(&env, held.fd(), dispatch.clone()) {
            Ok(poll) => return Ok(watcher(Running::Loop { poll, dispatch })),
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                let tsfn = Rc::try_unwrap(dispatch).map_err(|_| napi::Error::from_reason("dispatch still shared"))?;
                return Ok(watch_on_thread(&held, tsfn.into_inner()).map_or_else(|e| Either::B(neg_errno(e)), watcher));
            }
            Err(e) => return Ok(Either::B(neg_errno(e))),
        }
    }
    Ok(watch_on_thread(&held, tsfn).map_or_else(|e| Either::B(neg_errno(e)), watcher))
}

fn watch_on_loop(env: &Env, fd: i32, dispatch: Rc<RefCell<Dispatch>>) -> std::io::Result<UvPoll> {
    let uv_loop = env.get_uv_event_loop().map_err(|_| std::io::Error::from(std::io::ErrorKind::Unsupported))?;
    let poll = UvPoll::new(uv_loop.cast(), fd, move |poll, status| {
        poll.stop(); // no more readiness until this dispatch has run
        let again = poll.clone();
        dispatch.borrow().call_with_return_value(status.min(0), ThreadsafeFunctionCallMode::NonBlocking, move |_, _| {
            if status < 0 {
                return Ok(()); // the wait failed: the watch is over, JS stops it
            }
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

fn watch_on_thread(held: &Arc<HeldPoller>, tsfn: Dispatch) -> std::io::Result<Running> {
    let waker = Arc::new(Waker::new()?);
    let dispatch = Arc::new(Mutex::new(tsfn));
    let (thread_held, thread_waker, thread_dispatch) = (held.clone(), waker.clone(), dispatch.clone());
    std::thread::Builder::new()
        .name("fdpoll-watch".into())
        .spawn(move || wait_and_dispatch(&thread_held, &thread_waker, &thread_dispatch))?;
    Ok(Running::Thread { waker, dispatch })
}

fn wait_and_dispatch(held: &HeldPoller, waker: &Waker, dispatch: &Mutex<Dispatch>) {
    loop {
        let status = match wait_readable(held.fd(), waker, None) {
            Ok(Some(Woken::Ready)) => 0,
            Ok(_) => return, // woken by `stop`
            Err(e) => neg_errno(e),
        };
        let (done, finished) = mpsc::channel();
        let called = match dispatch.lock() {
            Ok(tsfn) => tsfn.call_with_return_value(status, ThreadsafeFunctionCallMode::Blocking, move |_, _| {
                let _ = done.send(());
                Ok(())
            }),
            Err(_) => return,
        };
        // A dropped callback (the env is closing) drops `done`, which ends the wait too.
        if status < 0 || called != Status::Ok || finished.recv().is_err() {
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
        let stopped = match self.running.take() {
            Some(Running::Loop { poll, .. }) => {
                poll.close(); // libuv forgets the fd at once, so the held poller may go now
                0
            }
            Some(Running::Thread { waker, .. }) => waker.wake().map_or_else(neg_errno, |()| 0),
            None => 0,
        };
        self.held = None;
        Ok(stopped)
    }

    /// 0 while the owner's epoll fd still names the watched poller; `-EBADF` once it was closed
    /// behind the watch's back (its number perhaps reused by another file). 0 once stopped.
    #[napi]
    pub fn check(&self) -> i32 {
        match &self.held {
            Some(held) if !held.is_behind(self.epfd) => -libc::EBADF,
            _ => 0,
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
