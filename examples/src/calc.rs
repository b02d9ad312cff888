//! A calculator declared with `#[remote]`: no IDL file, the trait is the interface.

use std::sync::atomic::{AtomicI64, Ordering};

use rpc_runtime::serde::{Deserialize, Serialize};

/// Why a calculation failed: the `Result` error of a `#[remote]` method is its
/// exception. It travels by serde, and reads well in `CallError`'s messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "rpc_runtime::serde")]
pub enum CalcError {
    /// Division by zero.
    DivideByZero,
    /// The result does not fit an `i64`.
    Overflow {
        /// The operation that overflowed.
        operation: String,
    },
}

impl std::fmt::Display for CalcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CalcError::DivideByZero => f.write_str("division by zero"),
            CalcError::Overflow { operation } => write!(f, "{operation} overflows"),
        }
    }
}

impl std::error::Error for CalcError {}

/// A calculator with a memory.
#[rpc_runtime::remote]
pub trait Calc {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> Result<i64, CalcError>;
    /// Divides `a` by `b`.
    async fn divide(&self, a: i64, b: i64) -> Result<i64, CalcError>;
    /// Doubles a value in place (copy/restore).
    async fn double(&self, value: &mut i64) -> Result<(), CalcError>;
    /// What the memory holds.
    #[idempotent]
    async fn recall(&self) -> i64;
    /// Stores a value in the memory; no reply.
    #[oneway]
    async fn store(&self, value: i64);
}

/// The calculator's implementation.
#[derive(Debug, Default)]
pub struct Calculator {
    memory: AtomicI64,
}

impl Calc for Calculator {
    async fn add(&self, a: i64, b: i64) -> Result<i64, CalcError> {
        a.checked_add(b).ok_or_else(|| CalcError::Overflow {
            operation: format!("{a} + {b}"),
        })
    }

    async fn divide(&self, a: i64, b: i64) -> Result<i64, CalcError> {
        if b == 0 {
            return Err(CalcError::DivideByZero);
        }
        a.checked_div(b).ok_or_else(|| CalcError::Overflow {
            operation: format!("{a} / {b}"),
        })
    }

    async fn double(&self, value: &mut i64) -> Result<(), CalcError> {
        *value = value.checked_mul(2).ok_or_else(|| CalcError::Overflow {
            operation: format!("{value} * 2"),
        })?;
        Ok(())
    }

    async fn recall(&self) -> i64 {
        self.memory.load(Ordering::SeqCst)
    }

    async fn store(&self, value: i64) {
        self.memory.store(value, Ordering::SeqCst);
    }
}
