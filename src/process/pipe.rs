//! The child's standard streams as cooperative pipes.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use mio::unix::pipe;

use crate::io::{Direction, Source};

fn nonblocking<P: AsRawFd>(p: &P, r: io::Result<()>) {
    if let Err(e) = r {
        log::error!(
            "greenlet: could not make pipe fd {} non-blocking ({e}); its calls will block a worker",
            p.as_raw_fd()
        );
    }
}

macro_rules! read_pipe {
    ($name:ident, $std:ident, $field:literal, $what:literal) => {
        #[doc = concat!("The child's ", $what, ": `Read` parks the greenlet until data arrives.")]
        ///
        /// End of file (`Ok(0)`) once the child closes it, usually when it exits.
        ///
        /// ```
        /// use std::io::Read;
        /// use greenlet::process::{Command, Stdio};
        /// let mut child = Command::new("sh")
        ///     .args(["-c", "echo to-stdout; echo to-stderr >&2"])
        ///     .stdout(Stdio::piped())
        ///     .stderr(Stdio::piped())
        ///     .spawn()?;
        #[doc = concat!("let mut pipe = child.", $field, ".take().unwrap();")]
        /// let mut text = String::new();
        /// pipe.read_to_string(&mut text)?; // parks this greenlet until the child writes
        #[doc = concat!("assert_eq!(text, \"to-", $field, "\\n\");")]
        /// child.wait()?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub struct $name {
            source: Source<pipe::Receiver>,
        }

        impl $name {
            pub(crate) fn new(p: std::process::$std) -> $name {
                let r = pipe::Receiver::from(p);
                nonblocking(&r, r.set_nonblocking(true));
                $name {
                    source: Source::new(r),
                }
            }

            #[track_caller]
            fn read_into(&self, buf: &mut [u8]) -> io::Result<usize> {
                let len = buf.len();
                self.source.do_io(
                    Direction::Read,
                    None,
                    |mut r| r.read(buf),
                    |&n| n > 0 && n < len,
                )
            }
        }

        impl Read for $name {
            #[track_caller]
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.read_into(buf)
            }
        }

        impl Read for &$name {
            #[track_caller]
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.read_into(buf)
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.source.get_ref().as_raw_fd()
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.source.get_ref().as_fd()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("fd", &self.as_raw_fd())
                    .finish()
            }
        }
    };
}

read_pipe!(ChildStdout, ChildStdout, "stdout", "standard output");
read_pipe!(ChildStderr, ChildStderr, "stderr", "standard error");

/// The child's standard input: `Write` parks the greenlet while the pipe is full. Drop it (or
/// take it out of [`Child::stdin`](super::Child::stdin)) to close it, so the child sees end of
/// file.
///
/// ```
/// use std::io::Write;
/// use greenlet::process::{Command, Stdio};
/// let mut child = Command::new("wc").arg("-c").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
/// let mut stdin = child.stdin.take().unwrap();
/// stdin.write_all(&[b'x'; 100_000])?; // more than a pipe holds: parks while it is full
/// drop(stdin);
/// let out = child.wait_with_output()?;
/// assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "100000");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ChildStdin {
    source: Source<pipe::Sender>,
}

impl ChildStdin {
    pub(crate) fn new(p: std::process::ChildStdin) -> ChildStdin {
        let s = pipe::Sender::from(p);
        nonblocking(&s, s.set_nonblocking(true));
        ChildStdin {
            source: Source::new(s),
        }
    }

    #[track_caller]
    fn write_from(&self, buf: &[u8]) -> io::Result<usize> {
        let len = buf.len();
        self.source
            .do_io(Direction::Write, None, |mut s| s.write(buf), |&n| n < len)
    }
}

impl Write for ChildStdin {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_from(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &ChildStdin {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_from(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for ChildStdin {
    fn as_raw_fd(&self) -> RawFd {
        self.source.get_ref().as_raw_fd()
    }
}

impl AsFd for ChildStdin {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.source.get_ref().as_fd()
    }
}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStdin")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
