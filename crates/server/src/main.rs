//! The `kafkatx` binary. The gateway is not written yet; this stub only proves the static build.

fn main() {
    println!("kafkatx {}", env!("CARGO_PKG_VERSION"));
}
