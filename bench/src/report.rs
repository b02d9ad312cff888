//! The printed table: one row per scenario, a column per system, and rpcgen's ratios.

/// What a row's numbers are, and so how they print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A latency in nanoseconds, printed in microseconds.
    Nanos,
    /// Calls per second.
    PerSecond,
    /// Megabytes (10^6 bytes) per second.
    MegabytesPerSecond,
    /// Heap allocations per call.
    Allocations,
}

impl Unit {
    fn format(self, value: f64) -> String {
        match self {
            Unit::Nanos => format!("{:.1} µs", value / 1000.0),
            Unit::PerSecond => thousands(value.round() as u64),
            Unit::MegabytesPerSecond => format!("{value:.0}"),
            Unit::Allocations => format!("{value:.2}"),
        }
    }
}

/// `n` with a comma between each group of three digits: `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One scenario: each system's number (`None` where a system cannot run it).
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub case: String,
    /// The unit of the three numbers.
    pub unit: Unit,
    /// The raw socket baseline.
    pub raw: Option<f64>,
    /// tarpc.
    pub tarpc: Option<f64>,
    /// rpcgen.
    pub rpcgen: f64,
}

/// The whole table, printed as markdown once every row is in.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Row>,
}

/// `rpcgen / other`, or "n/a" without a meaningful denominator.
fn ratio(rpcgen: f64, other: Option<f64>) -> String {
    match other {
        Some(other) if other > 0.0 => format!("{:.2}", rpcgen / other),
        _ => "n/a".to_string(),
    }
}

impl Table {
    /// An empty table.
    pub fn new() -> Table {
        Table::default()
    }

    /// Adds a row.
    pub fn row(
        &mut self,
        case: impl Into<String>,
        unit: Unit,
        raw: Option<f64>,
        tarpc: Option<f64>,
        rpcgen: f64,
    ) {
        self.rows.push(Row {
            case: case.into(),
            unit,
            raw,
            tarpc,
            rpcgen,
        });
    }

    /// Prints the table under `title`, as markdown.
    pub fn print(&self, title: &str) {
        println!("{title}\n");
        println!("| case | raw TCP | tarpc | rpcgen | rpcgen/raw | rpcgen/tarpc |");
        println!("|---|---:|---:|---:|---:|---:|");
        for row in &self.rows {
            let cell = |value: Option<f64>| value.map_or("n/a".to_string(), |v| row.unit.format(v));
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                row.case,
                cell(row.raw),
                cell(row.tarpc),
                row.unit.format(row.rpcgen),
                ratio(row.rpcgen, row.raw),
                ratio(row.rpcgen, row.tarpc),
            );
        }
    }
}
