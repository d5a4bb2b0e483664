//! Writes the protocol's TypeScript declarations to the path given (or prints them).

fn main() -> std::io::Result<()> {
    let text = gitops_protocol::typescript();
    match std::env::args_os().nth(1) {
        Some(path) => {
            let path = std::path::PathBuf::from(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}
