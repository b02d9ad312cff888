//! Turning a panic in a handler into a [`Reply::Fault`], so that one bad call costs one
//! error reply and the server keeps serving; and polling the handler in its
//! invocation's scope, so that [`invocation`](super::invocation) answers inside it.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::Invocation;
use super::service::{Handler, Reply};

/// A handler whose panics become fault replies, polled in its invocation's scope.
///
/// `Unpin`, with the scope entered at each poll rather than by a wrapping future: the
/// server polls a call once in place and moves it into a task only if it must wait, and
/// that needs no second box around the handler's own.
pub(crate) struct CatchUnwind {
    inner: Handler,
    invocation: Invocation,
}

impl CatchUnwind {
    pub fn new(inner: Handler, invocation: Invocation) -> CatchUnwind {
        CatchUnwind { inner, invocation }
    }
}

impl Future for CatchUnwind {
    type Output = Reply;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        // The handler is dropped right after a panic and never polled again, so no
        // broken invariant can be observed: asserting unwind safety is sound.
        let invocation = self.invocation;
        let poll = || super::INVOCATION.sync_scope(invocation, || self.inner.as_mut().poll(cx));
        match catch_unwind(AssertUnwindSafe(poll)) {
            Ok(poll) => poll,
            Err(panic) => Poll::Ready(Reply::Fault(format!(
                "the handler panicked: {}",
                message(&*panic)
            ))),
        }
    }
}

fn message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
