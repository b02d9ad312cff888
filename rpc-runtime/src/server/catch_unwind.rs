//! Turning a panic in a handler into a [`Reply::Fault`], so that one bad call costs one
//! error reply and the server keeps serving.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::service::{Handler, Reply};

/// A handler whose panics become fault replies.
pub(crate) struct CatchUnwind {
    inner: Handler,
}

impl CatchUnwind {
    pub fn new(inner: Handler) -> CatchUnwind {
        CatchUnwind { inner }
    }
}

impl Future for CatchUnwind {
    type Output = Reply;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        // The handler is dropped right after a panic and never polled again, so no
        // broken invariant can be observed: asserting unwind safety is sound.
        match catch_unwind(AssertUnwindSafe(|| self.inner.as_mut().poll(cx))) {
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
