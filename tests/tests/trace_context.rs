//! One trace covers a chain of servers: every call's span on both sides carries the same
//! trace id, handed down through the metadata, with the call's interface, method,
//! invocation and outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rpc_runtime::{Channel, Server, ServerHandle};
use tests::orphans::{WorkerClient, WorkerServer};
use tests::worker::Work;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// A span's name and its fields.
type Span = (String, HashMap<String, String>);

/// The fields of every span, by span id.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<HashMap<u64, Span>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        let name = attrs.metadata().name().to_string();
        self.0.lock().unwrap().insert(id.into_u64(), (name, fields));
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some((_, fields)) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
}

async fn serve(work: &Arc<Work>) -> ServerHandle {
    Server::new()
        .add_service(WorkerServer::new(work.clone()))
        .bind("127.0.0.1:0")
        .await
        .expect("bind")
}

async fn client(server: &ServerHandle) -> WorkerClient {
    WorkerClient::new(Channel::connect(server.address()).await.expect("connect"))
        .with_timeout(Duration::from_secs(5))
}

#[tokio::test]
async fn one_trace_id_covers_a_chain_of_three_servers() {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let last = Work::new();
    let last_server = serve(&last).await;
    let middle = Work::relaying_to(client(&last_server).await);
    let middle_server = serve(&middle).await;
    let first = Work::relaying_to(client(&middle_server).await);
    let first_server = serve(&first).await;
    let client = client(&first_server).await.with_metadata("tenant", "t1");
    assert_eq!(client.relay(2, 1).await.unwrap(), 3);

    let spans = spans.0.lock().unwrap().clone();
    let of = |name: &str| -> Vec<HashMap<String, String>> {
        spans
            .values()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .collect()
    };
    let (calls, serves) = (of("rpc.call"), of("rpc.serve"));
    assert_eq!((calls.len(), serves.len()), (3, 3), "{spans:?}");
    let trace = calls[0]["trace_id"].clone();
    assert_eq!(trace.len(), 32, "{trace}");
    for span in calls.iter().chain(&serves) {
        assert_eq!(span["trace_id"], trace, "{span:?}");
        assert_eq!(span["rpc.interface"], "orphans.Worker");
        assert_eq!(span["rpc.method"], "relay");
        assert!(span.contains_key("rpc.invocation"), "{span:?}");
        assert!(span["rpc.outcome"].contains("Ok"), "{span:?}");
    }
    for span in &calls {
        assert_eq!(span["rpc.attempts"], "1");
    }
    // The handlers saw the trace context in their metadata; the first also the caller's
    // own entry, which is not handed down the chain.
    let parent = |w: &Arc<Work>| w.seen()[0].metadata.get("traceparent").unwrap().to_string();
    for work in [&first, &middle, &last] {
        assert!(parent(work).starts_with(&format!("00-{trace}-")));
    }
    assert_eq!(first.seen()[0].metadata.get("tenant"), Some("t1"));
    assert_eq!(middle.seen()[0].metadata.get("tenant"), None);
}
