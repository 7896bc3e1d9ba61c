//! The `nightscape` binary: everything lives in the library; this only maps
//! the outcome to an exit status.

fn main() {
    match nightscape::cli::main() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
