fn main() {
    std::process::exit(kiln::main_with_args(std::env::args_os()));
}
