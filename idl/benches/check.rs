//! How long checking a large interface takes, end to end.
//!
//! Generates an IDL file with 2,000 types (structs with nested generic fields, enums and
//! exceptions with every kind of variant, some recursive through `option` and `list`)
//! and 2,000 methods (40 interfaces of 50, with attributes, modes, results and
//! `raises`), writes it to a temporary folder, and times `idl::load` (read, parse,
//! check, fingerprints) and `idl::check_str` (the same text without the disk).
//!
//! Types come in 40 groups of 50, one per interface, like the modules of a real service.
//! A last row times a worst case of the same size where every type can reach every
//! other (through `option`), so that each method's fingerprint covers all 2,000 types.
//!
//! Run with `cargo bench -p idl`. The target is under 100 ms for `idl::load`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

const TYPES: usize = 2_000;
const INTERFACES: usize = 40;
const METHODS_PER_INTERFACE: usize = 50;
/// Types per group; the methods of interface `k` use the types of group `k`.
const GROUP: usize = TYPES / INTERFACES;
const WARM_UP: usize = 3;
const ITERATIONS: usize = 20;
/// The worst case is slow; a few runs show it.
const WORST_CASE_RUNS: usize = 3;
const TARGET: Duration = Duration::from_millis(100);

const SCALARS: [&str; 13] = [
    "bool", "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64", "string", "bytes",
];
const KEYS: [&str; 5] = ["string", "u64", "i32", "bytes", "bool"];

/// Type `i` is `T{i}` for a struct, `E{i}` for an enum, `X{i}` for an exception.
fn type_name(i: usize) -> String {
    match i % 5 {
        0..=2 => format!("T{i}"),
        3 => format!("E{i}"),
        _ => format!("X{i}"),
    }
}

/// Writes the generated IDL; deterministic (xorshift64), so every run checks the same
/// text.
struct Generator {
    state: u64,
    /// Recursive references may name any struct, not only one of their own group.
    dense: bool,
}

impl Generator {
    fn below(&mut self, n: usize) -> usize {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// A struct to refer to through `option` or `list`: one of `group`'s, or any.
    fn any_struct(&mut self, group: usize) -> String {
        let first = if self.dense { 0 } else { group * GROUP };
        let count = if self.dense { TYPES } else { GROUP };
        type_name(first + 5 * self.below(count / 5) + self.below(3))
    }

    /// A field or parameter type for type number `owner` of `group`. By value it names
    /// an earlier type of its group or one of the first `GROUP` (shared by all), so no
    /// type holds itself; through `option` or `list` any struct, itself included.
    fn field_type(&mut self, group: usize, owner: usize, depth: usize) -> String {
        let first = group * GROUP;
        match self.below(if depth > 1 { 4 } else { 10 }) {
            0..=3 => self.pick(&SCALARS).to_string(),
            4 if owner > first && self.below(4) > 0 => type_name(first + self.below(owner - first)),
            4 if owner > 0 => type_name(self.below(owner.min(GROUP))),
            5 => format!("list<{}>", self.field_type(group, owner, depth + 1)),
            6 => format!("option<{}>", self.field_type(group, owner, depth + 1)),
            7 => {
                let key = self.pick(&KEYS);
                format!("map<{key}, {}>", self.field_type(group, owner, depth + 1))
            }
            8 => format!("option<{}>", self.any_struct(group)),
            9 => format!("list<{}>", self.any_struct(group)),
            _ => self.pick(&SCALARS).to_string(),
        }
    }

    fn fields(&mut self, owner: usize, n: usize, separator: &str) -> String {
        let fields: Vec<String> = (0..n)
            .map(|f| format!("f{f}: {}", self.field_type(owner / GROUP, owner, 0)))
            .collect();
        fields.join(separator)
    }

    fn variants(&mut self, owner: usize) -> String {
        let mut out = String::new();
        for v in 0..3 + self.below(5) {
            let _ = write!(out, "\n    /// Variant {v}.\n    V{v}");
            match v % 3 {
                0 => {}
                1 => {
                    let types: Vec<String> = (0..1 + self.below(3))
                        .map(|_| self.field_type(owner / GROUP, owner, 0))
                        .collect();
                    let _ = write!(out, "({})", types.join(", "));
                }
                _ => {
                    let n = 1 + self.below(3);
                    let _ = write!(out, " {{ {} }}", self.fields(owner, n, ", "));
                }
            }
            out.push(',');
        }
        out
    }

    fn method(&mut self, k: usize, m: usize) -> String {
        let attr = ["", "", "[idempotent] ", "[last_of_many] ", "[oneway] "][self.below(5)];
        let oneway = attr == "[oneway] ";
        let mut params = Vec::new();
        for p in 0..self.below(5) {
            let mode = match self.below(6) {
                _ if oneway => "",
                0 => "out ",
                1 => "inout ",
                2 => "in ",
                _ => "",
            };
            let ty = self.field_type(k, (k + 1) * GROUP, 0);
            params.push(format!("{mode}p{p}: {ty}"));
        }
        if self.below(10) == 0 {
            params.push(format!("peer: Service{}", self.below(INTERFACES)));
        }
        let mut tail = String::new();
        if !oneway && self.below(3) > 0 {
            let _ = write!(tail, " -> {}", self.field_type(k, (k + 1) * GROUP, 0));
        }
        if !oneway && self.below(2) == 0 {
            let exception = type_name(k * GROUP + 5 * self.below(GROUP / 5) + 4);
            let _ = write!(tail, " raises {exception}");
        }
        format!(
            "    /// Method {m} of interface {k}.\n    {attr}call_{k}_{m}({}){tail};\n",
            params.join(", ")
        )
    }

    /// The whole file.
    fn file(&mut self) -> String {
        let mut out =
            String::from("/// A generated package for the benchmark.\npackage bench;\n\n");
        for i in 0..TYPES {
            let name = type_name(i);
            let _ = match i % 5 {
                0..=2 => {
                    let n = 4 + self.below(5);
                    let fields = self.fields(i, n, ",\n    ");
                    writeln!(
                        out,
                        "/// Struct number {i}.\nstruct {name} {{\n    /// The id.\n    id: u64,\n    {fields},\n}}\n",
                    )
                }
                3 => {
                    let variants = self.variants(i);
                    writeln!(out, "/// Enum number {i}.\nenum {name} {{{variants}\n}}\n")
                }
                _ => {
                    let variants = self.variants(i);
                    writeln!(
                        out,
                        "/// Exception number {i}.\nexception {name} {{{variants}\n}}\n"
                    )
                }
            };
        }
        for k in 0..INTERFACES {
            let _ = writeln!(out, "/// Interface number {k}.\ninterface Service{k} {{");
            for m in 0..METHODS_PER_INTERFACE {
                out.push_str(&self.method(k, m));
            }
            out.push_str("}\n\n");
        }
        out
    }
}

/// min, median, max of `runs` timed runs of `f`, after `WARM_UP` untimed ones (one for
/// the few runs of the worst case).
fn time(runs: usize, mut f: impl FnMut()) -> [Duration; 3] {
    let warm_up = if runs < ITERATIONS { 1 } else { WARM_UP };
    for _ in 0..warm_up {
        f();
    }
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    [times[0], times[runs / 2], times[runs - 1]]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Writes `text` to a fresh temporary folder, checks that it is what the table claims,
/// and times `idl::load` of it.
fn time_load(name: &str, text: &str, runs: usize) -> [Duration; 3] {
    let dir = std::env::temp_dir().join(format!("idl-bench-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temporary folder");
    let path = dir.join("bench.idl");
    std::fs::write(&path, text).expect("write the generated file");
    let model = idl::load(&[&path]).unwrap_or_else(|e| panic!("the generated IDL: {e}"));
    let package = &model.packages[0];
    let methods: usize = package.interfaces.iter().map(|i| i.methods.len()).sum();
    assert_eq!(package.types.len(), TYPES);
    assert_eq!(methods, INTERFACES * METHODS_PER_INTERFACE);
    let times = time(runs, || {
        std::hint::black_box(idl::load(&[&path]).expect("valid"));
    });
    let _ = std::fs::remove_dir_all(&dir);
    times
}

fn main() {
    let text = Generator {
        state: 0x9e37_79b9_7f4a_7c15,
        dense: false,
    }
    .file();
    let dense = Generator {
        state: 0x9e37_79b9_7f4a_7c15,
        dense: true,
    }
    .file();

    let load = time_load("groups", &text, ITERATIONS);
    let check_str = time(ITERATIONS, || {
        std::hint::black_box(idl::check_str("bench.idl", &text).expect("valid"));
    });
    let worst = time_load("dense", &dense, WORST_CASE_RUNS);

    let mb = text.len() as f64 / 1e6;
    println!(
        "idl check: {TYPES} types, {} methods in {INTERFACES} interfaces, {} lines, {mb:.2} MB",
        INTERFACES * METHODS_PER_INTERFACE,
        text.lines().count(),
    );
    println!(
        "{:<36} {:>5} {:>8} {:>9} {:>8} {:>6}",
        "", "runs", "min ms", "median ms", "max ms", "MB/s"
    );
    let rows = [
        ("idl::load (disk)", ITERATIONS, load, mb),
        ("idl::check_str (memory)", ITERATIONS, check_str, mb),
        (
            "idl::load, every type reaches all",
            WORST_CASE_RUNS,
            worst,
            dense.len() as f64 / 1e6,
        ),
    ];
    for (name, runs, [min, median, max], mb) in rows {
        println!(
            "{name:<36} {runs:>5} {:>8.1} {:>9.1} {:>8.1} {:>6.2}",
            ms(min),
            ms(median),
            ms(max),
            mb / median.as_secs_f64()
        );
    }
    let verdict = if load[1] < TARGET { "under" } else { "OVER" };
    println!(
        "target: idl::load median {:.1} ms is {verdict} the {} ms target",
        ms(load[1]),
        TARGET.as_millis()
    );
}
