//! Kiln sample: prints a greeting, its arguments and one environment variable.

fn main() {
    println!("Hello from Rust on Kiln!");
    for (i, arg) in std::env::args().enumerate() {
        println!("argv[{i}] = {arg}");
    }
    match std::env::var("HOME") {
        Ok(home) => println!("HOME = {home}"),
        Err(e) => println!("HOME unavailable: {e}"),
    }
    // `hello-rust abort`: die of SIGABRT three calls down, for backtraces.
    if std::env::args().nth(1).as_deref() == Some("abort") {
        crash_outer(3);
    }
}

#[inline(never)]
fn crash_outer(n: u32) {
    crash_middle(n + 1);
    std::hint::black_box(n);
}

#[inline(never)]
fn crash_middle(n: u32) {
    crash_inner(n + 1);
    std::hint::black_box(n);
}

#[inline(never)]
fn crash_inner(n: u32) {
    if std::hint::black_box(n) > 0 {
        println!("hello-rust: aborting three calls down");
        std::process::abort();
    }
}
