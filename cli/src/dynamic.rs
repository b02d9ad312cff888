//! `cargo rpcgen call`, `describe` and `gateway`: services called and described from
//! their IDL alone, with no generated code (`rpc-dynamic`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rpc_dynamic::{DynamicClient, DynamicError, DynamicInterface, Target};
use rpc_runtime::{CallError, ChannelConfig, Outcome, Transport};

/// Where calls go, as the command line says.
#[derive(clap::Args)]
pub struct TargetArgs {
    /// The server's address (`host:port`, or a socket path with `--transport unix`); with
    /// `--binder`, the name the servers export.
    pub target: String,
    /// Look the target up as a name in the binder at this address (`host:port`,
    /// `etcd://host:port`, or `multicast://GROUP:PORT` for multicast discovery).
    #[arg(long, value_name = "ADDR")]
    pub binder: Option<String>,
    /// How to reach the server.
    #[arg(long, value_enum, default_value_t = TransportArg::Tcp)]
    pub transport: TransportArg,
    /// How long a call may take in all (connecting and retransmissions included):
    /// `500ms`, `2s` or a number of seconds.
    #[arg(long, value_name = "TIME", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// The transports of the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum TransportArg {
    /// TCP.
    Tcp,
    /// UDP, one datagram per message, retransmitted on a timer.
    Udp,
    /// A Unix domain socket; the target is its path.
    Unix,
}

impl TargetArgs {
    /// The target the arguments name (connecting to the binder, if one is named), or
    /// the exit status after saying why there is none.
    async fn target(&self) -> Result<Target, ExitCode> {
        let transport = match self.transport {
            TransportArg::Tcp => Transport::Tcp,
            TransportArg::Udp => Transport::Udp,
            TransportArg::Unix => Transport::Unix,
        };
        let config = ChannelConfig {
            transport,
            timeout: self.timeout,
            connect_timeout: self.timeout,
            ..ChannelConfig::default()
        };
        match &self.binder {
            None => Ok(Target::address(self.target.clone(), config)),
            Some(binder) => {
                let binder = rpc_binder::Binder::from_spec(binder).await.map_err(|e| {
                    eprintln!("error: cannot reach the binder {binder}: {e}");
                    ExitCode::from(1)
                })?;
                Ok(Target::Bound {
                    resolver: Arc::new(binder),
                    name: self.target.clone(),
                    config,
                })
            }
        }
    }
}

/// `500ms`, `2s`, `1.5` (seconds).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else {
        (text, 1.0)
    };
    let seconds: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a time: write 500ms, 2s or 2"))?;
    Duration::try_from_secs_f64(seconds * scale)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("`{text}` is not a time above zero"))
}

/// Loads `files` as a model, printing why not.
fn model(files: &[PathBuf]) -> Result<Arc<idl::Model>, ExitCode> {
    idl::load(files).map(Arc::new).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// `cargo rpcgen describe FILE...`.
pub fn describe(files: &[PathBuf], json: bool) -> ExitCode {
    let model = match model(files) {
        Ok(model) => model,
        Err(code) => return code,
    };
    let interfaces = DynamicInterface::all(&model);
    if json {
        let listing = rpc_dynamic::describe_json(&interfaces);
        println!(
            "{}",
            serde_json::to_string_pretty(&listing).unwrap_or_default()
        );
    } else {
        print!("{}", rpc_dynamic::describe(&interfaces));
    }
    ExitCode::SUCCESS
}

/// `cargo rpcgen call FILE TARGET package.Interface/method [JSON]`.
///
/// Exit status: 0 when the method returned (its reply record on stdout as JSON), 1 when
/// it raised its exception (the exception on stdout as JSON) or the call failed (why on
/// stderr, with whether it ran), 2 when the command line, the IDL or the JSON is wrong.
pub fn call(
    file: &PathBuf,
    target: &TargetArgs,
    method: &str,
    arguments: Option<&str>,
) -> ExitCode {
    let model = match model(std::slice::from_ref(file)) {
        Ok(model) => model,
        Err(code) => return code,
    };
    let Some((interface, method)) = method.split_once('/') else {
        eprintln!("error: `{method}` is not a method: write package.Interface/method");
        return ExitCode::from(2);
    };
    let interface = match DynamicInterface::new(model, interface) {
        Ok(interface) => Arc::new(interface),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let arguments: serde_json::Value = match serde_json::from_str(arguments.unwrap_or("{}")) {
        Ok(json) => json,
        Err(e) => {
            eprintln!("error: the arguments are not JSON: {e}");
            return ExitCode::from(2);
        }
    };
    runtime().block_on(async {
        let target = match target.target().await {
            Ok(target) => target,
            Err(code) => return code,
        };
        let client = DynamicClient::new(interface.clone(), target.client(interface.spec()));
        match client.call_json(method, &arguments).await {
            Ok(reply) => {
                println!("{}", pretty(&reply));
                ExitCode::SUCCESS
            }
            Err(DynamicError::Call(CallError::Exception(exception))) => {
                println!("{}", pretty(&client.exception_json(method, &exception)));
                ExitCode::from(1)
            }
            Err(e @ (DynamicError::UnknownMethod(_) | DynamicError::Arguments { .. })) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
            Err(e) => {
                let ran = match e.outcome() {
                    Outcome::Executed => "it ran",
                    Outcome::NotExecuted => "it did not run",
                    _ => "it may or may not have run",
                };
                eprintln!("error: {e} ({ran})");
                ExitCode::from(1)
            }
        }
    })
}

fn pretty(json: &serde_json::Value) -> String {
    serde_json::to_string_pretty(json).unwrap_or_else(|_| json.to_string())
}

/// `cargo rpcgen gateway FILE... TARGET --listen ADDR`.
#[cfg(feature = "gateway")]
pub fn gateway(files: &[PathBuf], target: &TargetArgs, listen: &str) -> ExitCode {
    let model = match model(files) {
        Ok(model) => model,
        Err(code) => return code,
    };
    let interfaces = DynamicInterface::all(&model);
    runtime().block_on(async {
        let target = match target.target().await {
            Ok(target) => target,
            Err(code) => return code,
        };
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("error: cannot listen on {listen}: {e}");
                return ExitCode::from(1);
            }
        };
        let address = listener
            .local_addr()
            .map_or(listen.to_owned(), |a| a.to_string());
        println!(
            "gateway: listening on http://{address}/ ({} interface(s))",
            interfaces.len()
        );
        let gateway = rpc_dynamic::gateway::Gateway::new(interfaces, &target);
        tokio::select! {
            served = rpc_dynamic::gateway::serve(listener, gateway) => match served {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            },
            _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn times_read_as_people_write_them() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
