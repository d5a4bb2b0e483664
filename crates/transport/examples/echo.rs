//! Runs the conformance echo server on the address given (default 127.0.0.1:9002).
//! Needs `--features conformance`.

#[cfg(feature = "conformance")]
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9002".to_owned());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("echo on {}", listener.local_addr()?);
    gitops_transport::serve_echo(listener, gitops_transport::WsLimits::default()).await
}

#[cfg(not(feature = "conformance"))]
fn main() {
    eprintln!("build with --features conformance");
}
