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
    ($name:ident, $std:ident, $what:literal) => {
        #[doc = concat!("The child's ", $what, ": `Read` parks the greenlet until data arrives.")]
        ///
        /// End of file (`Ok(0)`) once the child closes it, usually when it exits.
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
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.read_into(buf)
            }
        }

        impl Read for &$name {
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

read_pipe!(ChildStdout, ChildStdout, "standard output");
read_pipe!(ChildStderr, ChildStderr, "standard error");

/// The child's standard input: `Write` parks the greenlet while the pipe is full. Drop it (or
/// take it out of [`Child::stdin`](super::Child::stdin)) to close it, so the child sees end of
/// file.
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

    fn write_from(&self, buf: &[u8]) -> io::Result<usize> {
        let len = buf.len();
        self.source
            .do_io(Direction::Write, None, |mut s| s.write(buf), |&n| n < len)
    }
}

impl Write for ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_from(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &ChildStdin {
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
