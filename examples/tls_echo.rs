//! A TLS line-echo server and client: `rustls`, unchanged, over greenlet sockets. rustls works
//! on any `Read + Write` stream; a greenlet `TcpStream` parks where a std one would block, so
//! one greenlet per TLS connection scales like any greenlet server.
//!
//!     cargo run --release --example tls_echo [ADDR] [CERT_OUT]
//!         (defaults 127.0.0.1:8443 and tls_echo_cert.der in the temporary directory)
//!     cargo run --release --example tls_echo -- client ADDR CERT MESSAGE...
//!
//! The server makes a self-signed certificate for `localhost` at start (with `rcgen`), writes
//! it (DER) to CERT_OUT for clients to trust, and prints `tls_echo listening on ADDR`. The
//! client connects to ADDR, verifies the server as `localhost` against CERT, sends each MESSAGE
//! as a line and prints the echoed lines.

use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;

use greenlet::net::{StreamServer, TcpListener, TcpStream};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One connection: TLS handshake, then every line read is written back.
fn serve(config: Arc<ServerConfig>, tcp: TcpStream) -> Result<(), Error> {
    let tls = rustls::StreamOwned::new(ServerConnection::new(config)?, tcp);
    let mut tls = BufReader::new(tls);
    let mut line = String::new();
    while tls.read_line(&mut line)? > 0 {
        tls.get_mut().write_all(line.as_bytes())?;
        line.clear();
    }
    Ok(())
}

fn server(addr: &str, cert_out: &str) -> Result<(), Error> {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    std::fs::write(cert_out, cert.der())?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(signing_key.serialize_der()));
    let config = Arc::new(
        ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)?,
    );
    let listener = TcpListener::bind(addr)?;
    println!("tls_echo listening on {}", listener.local_addr()?);
    StreamServer::new(listener, move |tcp, peer| {
        if let Err(e) = serve(config.clone(), tcp) {
            eprintln!("{peer}: {e}");
        }
    })
    .serve_forever()?;
    Ok(())
}

/// A TLS client over a greenlet `TcpStream`: returns the echoed lines.
fn client(addr: &str, cert: &str, messages: &[String]) -> Result<Vec<String>, Error> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(std::fs::read(cert)?))?;
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost")?;
    let tcp = TcpStream::connect(addr)?;
    let tls = rustls::StreamOwned::new(ClientConnection::new(Arc::new(config), name)?, tcp);
    let mut tls = BufReader::new(tls);
    let mut replies = Vec::new();
    for m in messages {
        tls.get_mut().write_all(format!("{m}\n").as_bytes())?;
        let mut line = String::new();
        tls.read_line(&mut line)?;
        replies.push(line.trim_end().to_string());
    }
    Ok(replies)
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("client") {
        let [addr, cert, messages @ ..] = &args[1..] else {
            return Err("usage: tls_echo client ADDR CERT MESSAGE...".into());
        };
        for reply in client(addr, cert, messages)? {
            println!("{reply}");
        }
        return Ok(());
    }
    let default_cert = std::env::temp_dir().join("tls_echo_cert.der");
    let addr = args.first().map_or("127.0.0.1:8443", String::as_str);
    let cert_out = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| default_cert.display().to_string());
    server(addr, &cert_out)
}
