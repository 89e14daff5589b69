//! The `kiln` command line, for the integration tests (same code as packager/src/main.rs).
fn main() {
    std::process::exit(kiln::main_with_args(std::env::args_os()));
}
