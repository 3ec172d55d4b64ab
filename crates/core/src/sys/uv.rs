//! libuv's `uv_poll`, found at run time in the host process. Node exports libuv's symbols, so a
//! poll handle on a poller's fd lets Node's own loop watch it, with no thread. The lookup is
//! `dlsym(RTLD_DEFAULT, ...)`, which searches the executable and every loaded library on Linux
//! (glibc and musl), macOS and FreeBSD alike; libuv's uv_poll watches the fd with epoll there, and
//! with kqueue on macOS and FreeBSD, where a kqueue fd is itself pollable. Where the symbols are
//! absent (another runtime), `UvPoll::new` fails with `Unsupported` and callers fall back.
//!
//! A `UvPoll` is used on the loop's thread only (it is neither Send nor Sync).

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void, CStr};
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::OnceLock;

/// `UV_POLL` in libuv's `uv_handle_type`.
const UV_POLL: c_int = 8;
/// `UV_READABLE` in libuv's `uv_poll_event`.
const UV_READABLE: c_int = 1;

type PollCb = unsafe extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
type CloseCb = unsafe extern "C" fn(handle: *mut c_void);

/// The libuv functions used, as found in the process.
struct Api {
    handle_size: unsafe extern "C" fn(c_int) -> usize,
    poll_init: unsafe extern "C" fn(*mut c_void, *mut c_void, c_int) -> c_int,
    poll_start: unsafe extern "C" fn(*mut c_void, c_int, PollCb) -> c_int,
    poll_stop: unsafe extern "C" fn(*mut c_void) -> c_int,
    close: unsafe extern "C" fn(*mut c_void, CloseCb),
    ref_: unsafe extern "C" fn(*mut c_void),
    unref: unsafe extern "C" fn(*mut c_void),
}

fn api() -> Option<&'static Api> {
    static API: OnceLock<Option<Api>> = OnceLock::new();
    API.get_or_init(|| {
        // SAFETY: each field's type is the C signature (libuv 1.x, stable ABI) of the
        // function of that name.
        unsafe {
            Some(Api {
                handle_size: load(c"uv_handle_size")?,
                poll_init: load(c"uv_poll_init")?,
                poll_start: load(c"uv_poll_start")?,
                poll_stop: load(c"uv_poll_stop")?,
                close: load(c"uv_close")?,
                ref_: load(c"uv_ref")?,
                unref: load(c"uv_unref")?,
            })
        }
    })
    .as_ref()
}

/// The function `name` in the process, as the function pointer type `F`.
///
/// # Safety
/// `F` must be a function pointer type matching the symbol's C signature.
unsafe fn load<F: Copy>(name: &CStr) -> Option<F> {
    const { assert!(std::mem::size_of::<F>() == std::mem::size_of::<*mut c_void>()) };
    // SAFETY: dlsym only reads the NUL-terminated name; RTLD_DEFAULT searches the process.
    let found = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    // SAFETY: a function pointer has the size of a data pointer (asserted above) and the
    // caller guarantees the signature.
    (!found.is_null()).then(|| unsafe { std::mem::transmute_copy::<*mut c_void, F>(&found) })
}

/// What a poll event calls: the poll (to stop, restart or close it) and libuv's status
/// (negative: an error such as EBADF).
type Callback = Box<dyn FnMut(&UvPoll, i32)>;

struct Inner {
    api: &'static Api,
    /// The uv_poll_t, `words` u64s long; freed when the last `UvPoll` goes, which is never
    /// before libuv's close callback (the handle's `data` holds a reference until then).
    handle: *mut c_void,
    words: usize,
    closed: Cell<bool>,
    callback: RefCell<Option<Callback>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // SAFETY: `handle` came from a boxed slice of `words` u64s, and libuv has let go of it
        // (its close callback released the last reference, or init failed).
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.handle.cast::<u64>(), self.words)) });
    }
}

/// A libuv poll handle watching one fd for readability on the loop it was made on.
#[derive(Clone)]
pub struct UvPoll {
    inner: Rc<Inner>,
}

impl UvPoll {
    /// A stopped poll on `fd`, in `uv_loop` (a `uv_loop_t *`, from `napi_get_uv_event_loop`, of
    /// the calling thread). `callback` runs on each readiness until `stop` or `close`.
    ///
    /// `uv_loop` cannot be checked beyond null: the contract above is the caller's. It is a safe
    /// function on purpose: the only caller hands it what napi's own safe API returned, and
    /// marking it `unsafe` would only move an `unsafe` block out of this backend.
    #[allow(clippy::not_unsafe_ptr_arg_deref)]
    pub fn new(uv_loop: *mut c_void, fd: RawFd, callback: impl FnMut(&UvPoll, i32) + 'static) -> io::Result<UvPoll> {
        let api = api().ok_or_else(|| io::Error::from(io::ErrorKind::Unsupported))?;
        if uv_loop.is_null() {
            return Err(io::Error::from(io::ErrorKind::Unsupported));
        }
        // SAFETY: uv_handle_size takes a handle type and returns its size.
        let words = unsafe { (api.handle_size)(UV_POLL) }.div_ceil(8);
        let handle = Box::into_raw(vec![0u64; words].into_boxed_slice()).cast::<c_void>();
        let inner = Rc::new(Inner { api, handle, words, closed: Cell::new(false), callback: RefCell::new(Some(Box::new(callback))) });
        // SAFETY: `handle` is zeroed, 8-byte aligned memory of uv_poll_t's size; `uv_loop` is the
        // caller's loop; libuv initialises the handle in place.
        let status = unsafe { (api.poll_init)(uv_loop, handle, fd) };
        if status < 0 {
            inner.closed.set(true);
            return Err(io::Error::from_raw_os_error(-status));
        }
        // SAFETY: `data`, the first field of every uv handle, is the handle's user pointer; it
        // holds one reference to `inner` until the close callback takes it back.
        unsafe { *handle.cast::<*const Inner>() = Rc::into_raw(inner.clone()) };
        Ok(UvPoll { inner })
    }

    /// Starts (or restarts) watching for readability. Does nothing once closed.
    pub fn start(&self) -> io::Result<()> {
        if self.inner.closed.get() {
            return Ok(());
        }
        // SAFETY: the handle is initialised and not closed; `on_poll` matches uv_poll_cb.
        let status = unsafe { (self.inner.api.poll_start)(self.inner.handle, UV_READABLE, on_poll) };
        if status < 0 {
            return Err(io::Error::from_raw_os_error(-status));
        }
        Ok(())
    }

    /// Stops watching until `start`. Does nothing once closed.
    pub fn stop(&self) {
        if !self.inner.closed.get() {
            // SAFETY: the handle is initialised and not closed.
            unsafe { (self.inner.api.poll_stop)(self.inner.handle) };
        }
    }

    /// Whether an active poll keeps the loop alive (`uv_ref`) or not (`uv_unref`).
    pub fn set_ref(&self, keep_alive: bool) {
        if !self.inner.closed.get() {
            // SAFETY: the handle is initialised and not closed.
            unsafe { (if keep_alive { self.inner.api.ref_ } else { self.inner.api.unref })(self.inner.handle) };
        }
    }

    /// Stops for good and hands the handle back to libuv; its memory goes after libuv's close
    /// callback and the last clone. Idempotent.
    pub fn close(&self) {
        if self.inner.closed.replace(true) {
            return;
        }
        self.inner.callback.borrow_mut().take();
        // SAFETY: the handle is initialised and closed only here, once; `on_close` matches uv_close_cb.
        unsafe { (self.inner.api.close)(self.inner.handle, on_close) };
    }
}

unsafe extern "C" fn on_poll(handle: *mut c_void, status: c_int, _events: c_int) {
    // SAFETY: `data` holds the reference `new` stored, alive until `on_close`; this adds one
    // for the duration of the call.
    let poll = unsafe {
        let inner = *handle.cast::<*const Inner>();
        Rc::increment_strong_count(inner);
        UvPoll { inner: Rc::from_raw(inner) }
    };
    // Taken out while it runs, so it may call `close` (which drops it) or `start`/`stop`.
    let callback = poll.inner.callback.borrow_mut().take();
    if let Some(mut callback) = callback {
        callback(&poll, status);
        if !poll.inner.closed.get() {
            *poll.inner.callback.borrow_mut() = Some(callback);
        }
    }
}

unsafe extern "C" fn on_close(handle: *mut c_void) {
    // SAFETY: takes back the reference `new` stored in `data`; libuv makes no further calls.
    drop(unsafe { Rc::from_raw(*handle.cast::<*const Inner>()) });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_libuv_in_the_process_new_is_unsupported() {
        let err = UvPoll::new(std::ptr::NonNull::<c_void>::dangling().as_ptr(), 0, |_, _| {}).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported, "a cargo test binary has no libuv to find");
    }
}
