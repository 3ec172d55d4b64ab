//! Timeouts as Python treats them (PEP 475): a wait interrupted by a signal (EINTR) is retried
//! with the time left, and a wait is rounded up, never down to 0.

use std::io;
use std::time::{Duration, Instant};

/// Runs `wait` with the time left until `timeout` has passed (`None`: no limit), again after
/// every EINTR, and returns its first other result.
pub fn retry_interrupted<T>(timeout: Option<Duration>, mut wait: impl FnMut(Option<Duration>) -> io::Result<T>) -> io::Result<T> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let mut left = timeout;
    loop {
        match wait(left) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                if let Some(at) = deadline {
                    left = Some(at.saturating_duration_since(Instant::now()));
                }
            }
            result => return result,
        }
    }
}

/// Milliseconds for poll and epoll_wait: -1 for no limit, else rounded up, saturated at i32::MAX.
pub fn ceil_ms(timeout: Option<Duration>) -> i32 {
    timeout.map_or(-1, |t| t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32)
}

/// Microseconds for select: -1 for no limit, else rounded up, saturated at i64::MAX.
pub fn ceil_us(timeout: Option<Duration>) -> i64 {
    timeout.map_or(-1, |t| t.as_nanos().div_ceil(1_000).min(i64::MAX as u128) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_up_and_saturates() {
        assert_eq!(ceil_ms(None), -1);
        assert_eq!(ceil_ms(Some(Duration::from_nanos(1))), 1);
        assert_eq!(ceil_ms(Some(Duration::from_millis(1500))), 1500);
        assert_eq!(ceil_ms(Some(Duration::from_secs(u64::MAX))), i32::MAX);
        assert_eq!(ceil_us(Some(Duration::from_nanos(1))), 1);
        assert_eq!(ceil_us(Some(Duration::ZERO)), 0);
    }

    #[test]
    fn eintr_is_retried_with_less_time() {
        let mut calls = vec![];
        let result = retry_interrupted(Some(Duration::from_millis(50)), |left| {
            calls.push(left);
            if calls.len() < 3 {
                std::thread::sleep(Duration::from_millis(5));
                Err(io::Error::from(io::ErrorKind::Interrupted))
            } else {
                Ok(7)
            }
        });
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls[0], Some(Duration::from_millis(50)));
        assert!(calls[1].unwrap() < calls[0].unwrap() && calls[2].unwrap() < calls[1].unwrap());
        let other = retry_interrupted(None, |_| Err::<(), _>(io::Error::from_raw_os_error(libc::EBADF)));
        assert_eq!(other.unwrap_err().raw_os_error(), Some(libc::EBADF));
    }
}
