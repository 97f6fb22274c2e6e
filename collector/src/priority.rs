//! Scheduling priority of the CPU-heavy work that runs beside the write path.
//!
//! Documents are written one at a time (see [`crate::store`]), so the collector stores as fast
//! as that one writer goes, and the writer spends its time handing statements to SQLite's
//! thread and waiting to be woken. Decoding the next documents (gunzip, JSON, checks) runs
//! meanwhile on tokio's blocking threads; at equal priority on two cores it delayed every one
//! of those wake-ups. With the decoding threads at nice 10, storms of 2,000 agents went from
//! 182-184 to 195-218 first inventories a second, and from 194-217 to 242-279 next ones.
#![allow(unsafe_code)]

use std::cell::Cell;

/// The nice value of threads that decode documents.
pub const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's scheduling priority to [`BACKGROUND_NICE`], once per thread.
/// Tokio reuses its blocking threads, so they stay lowered: they also hash passwords, which is
/// as well kept off the write path. Elsewhere than on Linux this does nothing.
pub fn lower_current_thread() {
    thread_local! {
        static LOWERED: Cell<bool> = const { Cell::new(false) };
    }
    LOWERED.with(|lowered| {
        if !lowered.replace(true) {
            set_current_thread_nice(BACKGROUND_NICE);
        }
    });
}

#[cfg(target_os = "linux")]
fn set_current_thread_nice(nice: i32) {
    // SAFETY: setpriority reads no memory of ours. On Linux, PRIO_PROCESS with id 0 names the
    // calling thread (each thread has its own nice value), not the whole process.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower thread priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn set_current_thread_nice(_nice: i32) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn current_thread_nice() -> i32 {
        // SAFETY: as above; getpriority only returns a value.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    #[test]
    fn only_the_calling_thread_is_lowered() {
        let main_before = current_thread_nice();
        let lowered = std::thread::spawn(|| {
            lower_current_thread();
            lower_current_thread();
            current_thread_nice()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, BACKGROUND_NICE.max(main_before));
        assert_eq!(
            current_thread_nice(),
            main_before,
            "another thread is not touched"
        );
        let untouched = std::thread::spawn(current_thread_nice).join().unwrap();
        assert_eq!(untouched, main_before);
    }
}
