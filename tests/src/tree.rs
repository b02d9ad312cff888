//! References to objects in `#[remote]` traits: a trait whose methods take and return
//! references to objects of its own interface and of another trait's, in both spellings
//! (`NodeRef`, `Ref<...SinkClient>`). Each trait has its module (one `#[remote]` trait per
//! module), and both name one package, so that the fingerprints are those the IDL would
//! give (`docs/REMOTE.md`).

/// The interface `tree.Sink`.
pub mod sink {
    /// Where a node's lines go.
    #[rpc_runtime::remote(package = "tree")]
    pub trait Sink {
        /// Writes a line.
        #[oneway]
        async fn write(&self, line: String);
    }
}

/// The interface `tree.Node`, which refers to `tree.Sink`.
pub mod node {
    // The generated code names a reference to a `Sink` `SinkRef`, however the trait
    // spells it: that name must be in scope.
    use super::sink::SinkRef;

    /// A node of a tree of objects.
    #[rpc_runtime::remote(package = "tree")]
    pub trait Node {
        /// The next sibling, if any.
        #[idempotent]
        async fn next(&self) -> Option<NodeRef>;
        /// The children, in order.
        async fn children(&self) -> Vec<NodeRef>;
        /// Replaces the sink; `previous` gets the one before.
        async fn attach(
            &self,
            sink: rpc_runtime::objects::Ref<super::sink::SinkClient>,
            #[out] previous: &mut Option<SinkRef>,
        );
    }

    /// A node without siblings or children, which keeps no sink.
    #[derive(Debug, Default)]
    pub struct Leaf;

    impl Node for Leaf {
        async fn next(&self) -> Option<NodeRef> {
            None
        }

        async fn children(&self) -> Vec<NodeRef> {
            Vec::new()
        }

        async fn attach(&self, sink: SinkRef, previous: &mut Option<SinkRef>) {
            *previous = Some(sink);
        }
    }

    /// A new leaf, as a reference to pass where a `Node` is expected.
    pub fn leaf() -> NodeRef {
        Leaf.into_ref()
    }
}
