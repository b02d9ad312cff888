//! `[uncancellable]` and its `#[remote]` twin reach the runtime as
//! `MethodSpec::cancellable`, and change no id or fingerprint: the trait below is
//! `idl/orphans.idl` in the other form.

/// Long calls for the cancellation and orphan tests.
#[rpc_runtime::remote(package = "orphans")]
pub trait Worker {
    /// Sleeps `millis` milliseconds, counting starts and ends on the server.
    #[idempotent]
    async fn nap(&self, millis: u64) -> u64;
    /// Like nap, at most once.
    async fn work(&self, millis: u64) -> u64;
    /// Like work, but runs to its end even when cancelled.
    #[uncancellable]
    async fn steady(&self, millis: u64) -> u64;
    /// Calls `hops` servers further down a chain of servers, then naps `millis`.
    async fn relay(&self, hops: u32, millis: u64) -> u64;
}

#[test]
fn only_the_marked_method_is_uncancellable() {
    let cancellable: Vec<(&str, bool)> = worker_interface::SPEC
        .methods
        .iter()
        .map(|m| (m.name, m.cancellable))
        .collect();
    assert_eq!(
        cancellable,
        [
            ("nap", true),
            ("work", true),
            ("steady", false),
            ("relay", true)
        ]
    );
    // As a server finds it, by the id a request carries.
    let steady = worker_interface::SPEC.method(worker_interface::methods::STEADY.id);
    assert_eq!(steady.map(|m| m.cancellable), Some(false));
}

#[test]
fn both_forms_give_the_same_spec() {
    assert_eq!(
        worker_interface::SPEC,
        tests::orphans::worker_interface::SPEC
    );
}
