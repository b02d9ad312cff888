//! The `rpc-binder` daemon: a [`Registry`] served as the `Binder` interface.

use std::sync::Arc;

use rpc_runtime::{Server, ServerHandle};

use crate::Registry;
use crate::proto::BinderServer;

/// Serves a fresh binder table at `address` until shut down.
pub async fn serve(address: &str) -> std::io::Result<ServerHandle> {
    Server::new()
        .add_service(BinderServer::new(Arc::new(Registry::new())))
        .bind(address)
        .await
}
