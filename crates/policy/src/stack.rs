//! Threads with a stack big enough for regorus.
//!
//! regorus parses, compiles and evaluates Rego recursively: expressions nest up to 32 deep
//! (its parser's limit), rules call rules up to [`crate::recursion::MAX_RULE_DEPTH`] deep.
//! The caller's thread may have a small stack (a tokio blocking thread has 2 MiB), so
//! everything that runs regorus runs on a thread of its own with [`STACK_BYTES`] of stack —
//! address space reserved, touched only as deep as evaluation goes.

use std::thread::{Builder, Scope, ScopedJoinHandle};

/// The stack of each thread that runs regorus.
pub(crate) const STACK_BYTES: usize = 64 << 20;

/// Starts `f` on a thread of `scope` with [`STACK_BYTES`] of stack.
pub(crate) fn spawn_scoped<'scope, T: Send + 'scope>(
    scope: &'scope Scope<'scope, '_>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::io::Result<ScopedJoinHandle<'scope, T>> {
    Builder::new().name("driftless-policy".into()).stack_size(STACK_BYTES).spawn_scoped(scope, f)
}

/// Runs `f` on a thread with [`STACK_BYTES`] of stack and waits for it.
///
/// # Errors
/// The thread could not be started, or `f` panicked (the panic's message is in the error).
pub(crate) fn run<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, String> {
    std::thread::scope(|scope| {
        let handle = spawn_scoped(scope, f).map_err(|e| format!("cannot start a policy thread: {e}"))?;
        handle.join().map_err(|panic| panicked(panic.as_ref()))
    })
}

/// What a panic of a policy thread said: regorus panics on some inputs (`sprintf` with a huge
/// width), and the error must say so rather than only that something went wrong.
pub(crate) fn panicked(payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    format!("a policy thread panicked: {what}")
}
