//! What `#[remote]` refuses, and why: each case in `ui/` with the compiler's expected
//! message beside it (`.stderr`). Regenerate with `TRYBUILD=overwrite` and read the diff.

#[test]
fn remote_traits_that_cannot_be_remote_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
}
