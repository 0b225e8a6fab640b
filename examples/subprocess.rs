//! Child processes: `subprocess.run(['ls', '-l'], stdout=PIPE)` and
//! `Popen(..., stdout=PIPE, stderr=PIPE).communicate()`. Waiting for a child parks only the
//! greenlet that waits, so many children can run at once.
//!
//!     cargo run --release --example subprocess

use std::io::Write;
use std::time::Instant;

use greenlet::process::{Command, Stdio};
use greenlet::{joinall, spawn};

fn main() -> std::io::Result<()> {
    // results = subprocess.run(['ls', '-l'], stdout=subprocess.PIPE); print(results.stdout)
    let results = Command::new("ls").arg("-l").output()?;
    print!("{}", String::from_utf8_lossy(&results.stdout));
    println!("ls exit code: {:?}", results.status.code());

    // process = Popen([...], stdin=PIPE, stdout=PIPE, stderr=PIPE)
    // stdout, stderr = process.communicate(input)
    let mut process = Command::new("sh")
        .args(["-c", "tr a-z A-Z; echo 'a warning' >&2; exit 3"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = process.stdin.take().expect("stdin was piped");
    stdin.write_all(b"hello from a greenlet\n")?;
    drop(stdin); // close it so the child sees the end of its input
    let out = process.wait_with_output()?;
    print!("stdout: {}", String::from_utf8_lossy(&out.stdout));
    print!("stderr: {}", String::from_utf8_lossy(&out.stderr));
    println!("retcode = {}", out.status.code().unwrap_or(-1));

    // Five children sleeping 0.3 s each, waited for by five greenlets: about 0.3 s in all.
    let start = Instant::now();
    let sleepers: Vec<_> = (0..5)
        .map(|_| spawn(|| Command::new("sleep").arg("0.3").status()))
        .collect();
    let ok = joinall(sleepers)
        .into_iter()
        .filter(|r| matches!(r, Ok(Ok(status)) if status.success()))
        .count();
    println!(
        "{ok} children of 0.3 s each, waited for at once, took {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
