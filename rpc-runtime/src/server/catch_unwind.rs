//! Turning a panic in a handler into a [`Reply::Fault`], so that one bad call costs one
//! error reply and the server keeps serving; and polling the handler in its
//! call's context, so that [`context`](super::context()) answers inside it.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use std::sync::Arc;

use super::context::{CONTEXT, CallContext};
use super::running::KillSwitch;
use super::service::{Handler, Reply};

/// A handler whose panics become fault replies, polled in its invocation's scope.
///
/// `Unpin`, with the scope entered at each poll rather than by a wrapping future: the
/// server polls a call once in place and moves it into a task only if it must wait, and
/// that needs no second box around the handler's own.
pub(crate) struct CatchUnwind {
    inner: Handler,
    context: CallContext,
    /// The call's span, entered at each poll.
    span: tracing::Span,
}

impl CatchUnwind {
    pub fn new(inner: Handler, context: CallContext, span: tracing::Span) -> CatchUnwind {
        CatchUnwind {
            inner,
            context,
            span,
        }
    }

    /// Lets the handler see, from now on, whether its call was asked to stop.
    pub fn watch(&mut self, switch: Arc<KillSwitch>) {
        self.context.switch = Some(switch);
    }
}

impl Future for CatchUnwind {
    type Output = Reply;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        // The handler is dropped right after a panic and never polled again, so no
        // broken invariant can be observed: asserting unwind safety is sound.
        let this = &mut *self;
        let context = this.context.clone();
        let _entered = this.span.enter();
        let poll = || CONTEXT.sync_scope(context, || this.inner.as_mut().poll(cx));
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
