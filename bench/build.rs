//! Generates the benchmark's echo stubs (`idl/echo.idl`) into `OUT_DIR`.

fn main() -> Result<(), rpcgen::Error> {
    rpcgen::compile(&["idl/echo.idl"])?;
    Ok(())
}
