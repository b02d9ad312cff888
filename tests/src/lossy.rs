//! The fault mix and the client settings of the semantics proofs, shared by the proof
//! tests so that they all prove the same thing.

use std::time::Duration;

use rpc_runtime::chaos::Faults;
use rpc_runtime::{ChannelConfig, RetryPolicy, Transport};

/// 30% of datagrams lost, 10% duplicated, each delayed up to 20 ms (so reordered).
pub fn faults(seed: u64) -> Faults {
    Faults {
        loss: 0.30,
        duplicate: 0.10,
        max_delay: Duration::from_millis(20),
        seed,
        ..Faults::default()
    }
}

/// A client that retries often enough to get through [`faults`]: first wait 60 ms,
/// doubling up to 400 ms, 30 attempts, 20 s per call.
pub fn client_config(transport: Transport) -> ChannelConfig {
    ChannelConfig {
        transport,
        retry: RetryPolicy {
            first_wait: Duration::from_millis(60),
            backoff: 2,
            max_wait: Duration::from_millis(400),
            max_attempts: 30,
        },
        timeout: Duration::from_secs(20),
        ..ChannelConfig::default()
    }
}
