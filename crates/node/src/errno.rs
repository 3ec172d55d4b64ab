//! Error numbers on the WebAssembly build. The core reports WASI's numbers (wasi-libc's, which
//! are nobody's OS's), while the boundary speaks the host's, those of Node's
//! `os.constants.errno` that `src/errors.ts` reads: each number is translated by its name. The
//! loader hands the host's table over with `errnoUseHost` before anything else runs.

use std::collections::HashMap;
use std::ops::Neg;
use std::sync::OnceLock;

use napi_derive::napi;

/// WASI's errno numbers (1 to 76) with their names.
macro_rules! named {
    ($($name:ident)*) => { [$((libc::$name, stringify!($name))),*] };
}
const WASI: [(i32, &str); 76] = named! {
    E2BIG EACCES EADDRINUSE EADDRNOTAVAIL EAFNOSUPPORT EAGAIN EALREADY EBADF EBADMSG EBUSY
    ECANCELED ECHILD ECONNABORTED ECONNREFUSED ECONNRESET EDEADLK EDESTADDRREQ EDOM EDQUOT EEXIST
    EFAULT EFBIG EHOSTUNREACH EIDRM EILSEQ EINPROGRESS EINTR EINVAL EIO EISCONN EISDIR ELOOP
    EMFILE EMLINK EMSGSIZE EMULTIHOP ENAMETOOLONG ENETDOWN ENETRESET ENETUNREACH ENFILE ENOBUFS
    ENODEV ENOENT ENOEXEC ENOLCK ENOLINK ENOMEM ENOMSG ENOPROTOOPT ENOSPC ENOSYS ENOTCONN ENOTDIR
    ENOTEMPTY ENOTRECOVERABLE ENOTSOCK ENOTSUP ENOTTY ENXIO EOVERFLOW EOWNERDEAD EPERM EPIPE
    EPROTO EPROTONOSUPPORT EPROTOTYPE ERANGE EROFS ESPIPE ESRCH ESTALE ETIMEDOUT ETXTBSY EXDEV
    ENOTCAPABLE
};

/// The host's number for each WASI number (the index), once the loader has set it.
static HOST: OnceLock<Vec<i32>> = OnceLock::new();

/// Takes the host's errno table (`os.constants.errno`: name to number); a WASI error the host has
/// no name for becomes its EIO. Only the first call counts: returns whether this one did.
#[napi]
pub fn errno_use_host(table: HashMap<String, i32>) -> bool {
    let eio = table.get("EIO").copied().unwrap_or(libc::EIO);
    let mut host = vec![eio; WASI.len() + 1];
    for (wasi, name) in WASI {
        host[wasi as usize] = table.get(name).copied().unwrap_or(eio);
    }
    HOST.set(host).is_ok()
}

/// The host's number for a WASI errno (itself until the loader has set the table).
fn host(wasi: i32) -> i32 {
    HOST.get().and_then(|host| host.get(usize::try_from(wasi).ok()?).copied()).unwrap_or(wasi)
}

/// An errno as the core numbers it; negated, it is the host's `-errno` the boundary returns.
#[derive(Clone, Copy)]
pub(crate) struct Errno(i32);

impl Neg for Errno {
    type Output = i32;
    fn neg(self) -> i32 {
        -host(self.0)
    }
}

/// EINVAL: an argument the host would reject (an output array too small).
pub(crate) const EINVAL: Errno = Errno(libc::EINVAL);

/// The boundary's convention for a failed call: the host's `-errno` (its EIO for a failure that
/// carries no error number).
pub(crate) fn neg_errno(e: std::io::Error) -> i32 {
    -host(e.raw_os_error().unwrap_or(libc::EIO))
}
