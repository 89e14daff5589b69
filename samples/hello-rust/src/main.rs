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
}
