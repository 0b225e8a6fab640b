//! Files without blocking a worker: `std::fs` calls run on the [thread pool](crate::threadpool)
//! while only the calling greenlet parks (on a plain thread, the thread waits).
//!
//! Linux has no readiness for regular files (epoll says "ready" and the read then blocks on the
//! disk), so, like gevent's `FileObjectThread`, Go (which parks the goroutine's thread) and tokio's
//! `tokio::fs`, each call is handed to a pool thread. Functions take owned copies of their paths
//! and buffers across the hop.
//!
//! # What it costs
//!
//! One hop to the pool and back. Measured on this project's 2-core machine (shared with other
//! builds, so noisy), reading a 64-byte file 20,000 times from one greenlet, two runs:
//! `std::fs::read` 4.6-4.8 µs per call, `fs::read` 13-29 µs per call; an empty
//! `threadpool::apply` alone took 11-17 µs (two thread wake-ups). So: use this module where a
//! file call may wait on a disk or a network file system, or where many greenlets do file IO at
//! once; a few small reads of a hot, cached file are cheaper through `std::fs`, at the price of
//! holding the worker for those microseconds.
//!
//! # Kill and timeouts
//!
//! A greenlet killed (or timed out) during a call unwinds at once; the call itself runs to its
//! end on its pool thread and its result is dropped there. So a `write` may still happen after
//! the kill, a `read` may consume bytes no one sees, and a [`File`]'s offset may have moved.
//!
//! ```
//! use greenlet::fs;
//!
//! let dir = std::env::temp_dir().join(format!("greenlet-fs-doc-{}", std::process::id()));
//! fs::create_dir_all(&dir)?;
//! let path = dir.join("hello.txt");
//! fs::write(&path, "hello from a pool thread")?;
//! assert_eq!(fs::read_to_string(&path)?, "hello from a pool thread");
//! assert_eq!(fs::metadata(&path)?.len(), 24);
//! fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::ffi::OsString;
use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use std::fs::{FileType, Metadata, Permissions};

use crate::threadpool::apply;

/// The most bytes one `read` or `write` of a [`File`] moves through the pool: a larger buffer
/// gets a short read or write, as `Read`/`Write` allow, so that no op copies more than this.
const MAX_OP: usize = 4 << 20;

/// Defines a function that runs the `std::fs` function of the same name on the pool, with
/// owned copies of its path arguments.
macro_rules! on_pool {
    ($(#[$doc:meta])* $name:ident($($arg:ident),+) -> $ret:ty) => {
        $(#[$doc])*
        pub fn $name($($arg: impl AsRef<Path>),+) -> io::Result<$ret> {
            $(let $arg = $arg.as_ref().to_owned();)+
            apply(move || std::fs::$name($(&$arg),+))
        }
    };
}

on_pool! {
    /// Reads a whole file, like [`std::fs::read`].
    ///
    /// ```
    /// let bytes = greenlet::fs::read("Cargo.toml")?;
    /// assert!(bytes.starts_with(b"[package]"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    read(path) -> Vec<u8>
}

on_pool! {
    /// Reads a whole file as UTF-8, like [`std::fs::read_to_string`].
    ///
    /// ```
    /// let text = greenlet::fs::read_to_string("Cargo.toml")?;
    /// assert!(text.contains("name = \"greenlet\""));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    read_to_string(path) -> String
}

on_pool! {
    /// The metadata of a file or directory (following symlinks), like [`std::fs::metadata`].
    ///
    /// ```
    /// assert!(greenlet::fs::metadata("Cargo.toml")?.is_file());
    /// assert!(greenlet::fs::metadata("no/such/file").is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    metadata(path) -> Metadata
}

on_pool! {
    /// The metadata of a path without following a final symlink, like
    /// [`std::fs::symlink_metadata`].
    ///
    /// ```
    /// assert!(greenlet::fs::symlink_metadata("src")?.is_dir());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    symlink_metadata(path) -> Metadata
}

on_pool! {
    /// The absolute path with every symlink resolved, like [`std::fs::canonicalize`].
    ///
    /// ```
    /// assert!(greenlet::fs::canonicalize(".")?.is_absolute());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    canonicalize(path) -> PathBuf
}

on_pool! {
    /// Creates a directory (its parent must exist), like [`std::fs::create_dir`].
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("greenlet-mkdir-doc-{}", std::process::id()));
    /// greenlet::fs::create_dir(&dir)?;
    /// assert!(greenlet::fs::create_dir(&dir).is_err()); // exists already
    /// greenlet::fs::remove_dir(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    create_dir(path) -> ()
}

on_pool! {
    /// Creates a directory and any missing parents, like [`std::fs::create_dir_all`].
    ///
    /// ```
    /// let top = std::env::temp_dir().join(format!("greenlet-mkdirs-doc-{}", std::process::id()));
    /// greenlet::fs::create_dir_all(top.join("a/b/c"))?;
    /// assert!(greenlet::fs::metadata(top.join("a/b/c"))?.is_dir());
    /// greenlet::fs::remove_dir_all(&top)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    create_dir_all(path) -> ()
}

on_pool! {
    /// Removes a file, like [`std::fs::remove_file`].
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("greenlet-rm-doc-{}", std::process::id()));
    /// greenlet::fs::write(&path, b"x")?;
    /// greenlet::fs::remove_file(&path)?;
    /// assert!(greenlet::fs::metadata(&path).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    remove_file(path) -> ()
}

on_pool! {
    /// Removes an empty directory, like [`std::fs::remove_dir`].
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("greenlet-rmdir-doc-{}", std::process::id()));
    /// greenlet::fs::create_dir(&dir)?;
    /// greenlet::fs::remove_dir(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    remove_dir(path) -> ()
}

on_pool! {
    /// Removes a directory and everything in it, like [`std::fs::remove_dir_all`].
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("greenlet-rmall-doc-{}", std::process::id()));
    /// greenlet::fs::create_dir_all(dir.join("sub"))?;
    /// greenlet::fs::write(dir.join("sub/file"), b"x")?;
    /// greenlet::fs::remove_dir_all(&dir)?;
    /// assert!(greenlet::fs::metadata(&dir).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    remove_dir_all(path) -> ()
}

on_pool! {
    /// Renames a file or directory, replacing `to` if it is a file, like [`std::fs::rename`].
    ///
    /// ```
    /// let dir = std::env::temp_dir();
    /// let (from, to) = (dir.join(format!("greenlet-mv-a-{}", std::process::id())),
    ///                   dir.join(format!("greenlet-mv-b-{}", std::process::id())));
    /// greenlet::fs::write(&from, b"moved")?;
    /// greenlet::fs::rename(&from, &to)?;
    /// assert_eq!(greenlet::fs::read(&to)?, b"moved");
    /// greenlet::fs::remove_file(&to)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    rename(from, to) -> ()
}

on_pool! {
    /// Copies a file's contents and permissions; returns the bytes copied, like
    /// [`std::fs::copy`].
    ///
    /// ```
    /// let to = std::env::temp_dir().join(format!("greenlet-cp-doc-{}", std::process::id()));
    /// let n = greenlet::fs::copy("Cargo.toml", &to)?;
    /// assert_eq!(n, greenlet::fs::metadata(&to)?.len());
    /// greenlet::fs::remove_file(&to)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    copy(from, to) -> u64
}

/// Writes `contents` as the whole file (created or truncated), like [`std::fs::write`]. The
/// contents are copied once to move to the pool thread.
///
/// ```
/// let path = std::env::temp_dir().join(format!("greenlet-write-doc-{}", std::process::id()));
/// greenlet::fs::write(&path, "text or bytes")?;
/// assert_eq!(greenlet::fs::read(&path)?, b"text or bytes");
/// greenlet::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let contents = contents.as_ref().to_vec();
    apply(move || std::fs::write(path, contents))
}

/// The entries of a directory (not `.` and `..`), in the order the system lists them, read
/// all at once on the pool: unlike [`std::fs::read_dir`] this returns a `Vec`, since an
/// iterator would make one pool hop per entry. Fails if any entry cannot be read.
///
/// ```
/// let names: Vec<_> = greenlet::fs::read_dir("src")?
///     .into_iter()
///     .map(|e| e.file_name())
///     .collect();
/// assert!(names.iter().any(|n| n == "lib.rs"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_dir(path: impl AsRef<Path>) -> io::Result<Vec<DirEntry>> {
    let path = path.as_ref().to_owned();
    apply(move || {
        std::fs::read_dir(path)?
            .map(|entry| {
                let entry = entry?;
                Ok(DirEntry {
                    file_type: entry.file_type()?,
                    path: entry.path(),
                    file_name: entry.file_name(),
                })
            })
            .collect()
    })
}

/// One entry of [`read_dir`]: an owned snapshot whose path, name and type were all read on
/// the pool (std's `DirEntry` may make a blocking `lstat` for its type). Its
/// [`metadata`](DirEntry::metadata) is one more pool call.
///
/// ```
/// for entry in greenlet::fs::read_dir(".")? {
///     if entry.file_type()?.is_file() && entry.file_name() == "Cargo.toml" {
///         assert!(entry.metadata()?.len() > 0);
///     }
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct DirEntry {
    path: PathBuf,
    file_name: OsString,
    file_type: FileType,
}

impl DirEntry {
    /// The entry's full path (the directory's path joined with its name).
    ///
    /// ```
    /// let entry = greenlet::fs::read_dir("src")?.into_iter().next().unwrap();
    /// assert!(entry.path().starts_with("src"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The entry's name within its directory.
    ///
    /// ```
    /// let entry = greenlet::fs::read_dir("src")?.into_iter().next().unwrap();
    /// assert_eq!(Some(entry.file_name().as_os_str()), entry.path().file_name());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn file_name(&self) -> OsString {
        self.file_name.clone()
    }

    /// The entry's type (not following a symlink). Never fails (it was read with the entry);
    /// the `io::Result` matches std.
    ///
    /// ```
    /// let dirs = greenlet::fs::read_dir(".")?
    ///     .into_iter()
    ///     .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
    ///     .count();
    /// assert!(dirs >= 1); // src/ at least
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn file_type(&self) -> io::Result<FileType> {
        Ok(self.file_type)
    }

    /// The entry's metadata, not following a symlink (like std's), read on the pool.
    ///
    /// ```
    /// let entry = greenlet::fs::read_dir("src")?.into_iter().next().unwrap();
    /// assert!(entry.metadata().is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn metadata(&self) -> io::Result<Metadata> {
        symlink_metadata(&self.path)
    }
}

/// Options for opening a [`File`], like [`std::fs::OpenOptions`]; `open` runs on the pool.
///
/// ```
/// use std::io::{Read, Write};
/// use greenlet::fs::OpenOptions;
///
/// let path = std::env::temp_dir().join(format!("greenlet-opts-doc-{}", std::process::id()));
/// let mut log = OpenOptions::new().create(true).append(true).open(&path)?;
/// log.write_all(b"line 1\n")?;
/// log.write_all(b"line 2\n")?;
/// let mut text = String::new();
/// OpenOptions::new().read(true).open(&path)?.read_to_string(&mut text)?;
/// assert_eq!(text, "line 1\nline 2\n");
/// greenlet::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct OpenOptions(std::fs::OpenOptions);

/// Defines the boolean setters of [`OpenOptions`], each forwarding to std's.
macro_rules! open_flags {
    ($($(#[$doc:meta])* $flag:ident),*) => {$(
        $(#[$doc])*
        pub fn $flag(&mut self, on: bool) -> &mut OpenOptions {
            self.0.$flag(on);
            self
        }
    )*};
}

impl OpenOptions {
    /// All options off (set at least one of `read`, `write`, `append`).
    ///
    /// ```
    /// let opts = greenlet::fs::OpenOptions::new();
    /// assert!(opts.open("Cargo.toml").is_err()); // no access mode chosen
    /// ```
    pub fn new() -> OpenOptions {
        OpenOptions(std::fs::OpenOptions::new())
    }

    open_flags! {
        /// Opens for reading.
        ///
        /// ```
        /// let f = greenlet::fs::OpenOptions::new().read(true).open("Cargo.toml")?;
        /// # drop(f);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        read,
        /// Opens for writing (from the start, over what is there, unless `append` or
        /// `truncate`).
        ///
        /// ```
        /// let path = std::env::temp_dir().join(format!("greenlet-w-doc-{}", std::process::id()));
        /// let f = greenlet::fs::OpenOptions::new().write(true).create(true).open(&path)?;
        /// # drop(f);
        /// greenlet::fs::remove_file(&path)?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        write,
        /// Opens for appending: every write goes to the end.
        ///
        /// ```
        /// let path = std::env::temp_dir().join(format!("greenlet-a-doc-{}", std::process::id()));
        /// let f = greenlet::fs::OpenOptions::new().append(true).create(true).open(&path)?;
        /// # drop(f);
        /// greenlet::fs::remove_file(&path)?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        append,
        /// Truncates the file to length 0 on opening (needs `write`).
        ///
        /// ```
        /// let path = std::env::temp_dir().join(format!("greenlet-t-doc-{}", std::process::id()));
        /// greenlet::fs::write(&path, b"old contents")?;
        /// greenlet::fs::OpenOptions::new().write(true).truncate(true).open(&path)?;
        /// assert_eq!(greenlet::fs::read(&path)?, b"");
        /// greenlet::fs::remove_file(&path)?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        truncate,
        /// Creates the file if it does not exist (needs `write` or `append`).
        ///
        /// ```
        /// let path = std::env::temp_dir().join(format!("greenlet-c-doc-{}", std::process::id()));
        /// greenlet::fs::OpenOptions::new().write(true).create(true).open(&path)?;
        /// assert!(greenlet::fs::metadata(&path).is_ok());
        /// greenlet::fs::remove_file(&path)?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        create,
        /// Creates the file, failing if it exists (needs `write` or `append`).
        ///
        /// ```
        /// let opts = greenlet::fs::OpenOptions::new().write(true).create_new(true).clone();
        /// assert!(opts.open("Cargo.toml").is_err()); // exists
        /// ```
        create_new
    }

    /// Opens `path` with these options (on the pool).
    ///
    /// ```
    /// let f = greenlet::fs::OpenOptions::new().read(true).open("Cargo.toml")?;
    /// assert!(f.metadata()?.len() > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let (options, path) = (self.0.clone(), path.as_ref().to_owned());
        apply(move || options.open(path)).map(File::from_std)
    }
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

/// An open file whose reads, writes, seeks and syncs run on the pool.
///
/// `Read`, `Write` and `Seek` are implemented for `File` and `&File` (as std does). Each call
/// moves an owned buffer of at most 4 MiB to the pool thread and back (a larger `read` or
/// `write` is short, as the traits allow; `read_to_end`, `read_to_string` and `write_all` make
/// one hop for the whole job). The handle is shared with the pool thread (an `Arc`), so a
/// call cut short by a kill still finishes safely (see the [module docs](self)).
///
/// ```
/// use std::io::{Read, Seek, SeekFrom, Write};
/// use greenlet::fs::File;
///
/// let path = std::env::temp_dir().join(format!("greenlet-file-doc-{}", std::process::id()));
/// let mut f = File::create(&path)?;
/// f.write_all(b"hello world")?;
/// f.sync_all()?;
/// let mut f = File::open(&path)?;
/// f.seek(SeekFrom::Start(6))?;
/// let mut word = String::new();
/// f.read_to_string(&mut word)?;
/// assert_eq!(word, "world");
/// greenlet::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct File {
    inner: Arc<std::fs::File>,
}

impl File {
    /// Opens a file for reading.
    ///
    /// ```
    /// let f = greenlet::fs::File::open("Cargo.toml")?;
    /// assert!(greenlet::fs::File::open("no/such/file").is_err());
    /// # drop(f);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path)
    }

    /// Opens a file for writing, created if missing and truncated if not.
    ///
    /// ```
    /// use std::io::Write;
    /// let path = std::env::temp_dir().join(format!("greenlet-create-doc-{}", std::process::id()));
    /// greenlet::fs::File::create(&path)?.write_all(b"new")?;
    /// assert_eq!(greenlet::fs::read(&path)?, b"new");
    /// greenlet::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    }

    /// Options to open a file with ([`OpenOptions::new`]).
    ///
    /// ```
    /// let f = greenlet::fs::File::options().read(true).open("Cargo.toml")?;
    /// # drop(f);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Wraps a file opened with the standard library.
    ///
    /// ```
    /// let f = greenlet::fs::File::from_std(std::fs::File::open("Cargo.toml")?);
    /// # drop(f);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(file: std::fs::File) -> File {
        File {
            inner: Arc::new(file),
        }
    }

    /// Runs `op` on the file on a pool thread.
    fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&std::fs::File) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let file = self.inner.clone();
        apply(move || op(&file))
    }

    /// Flushes data and metadata to the device (`fsync`).
    ///
    /// ```
    /// use std::io::Write;
    /// let path = std::env::temp_dir().join(format!("greenlet-sync-doc-{}", std::process::id()));
    /// let mut f = greenlet::fs::File::create(&path)?;
    /// f.write_all(b"durable")?;
    /// f.sync_all()?; // on disk now
    /// greenlet::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn sync_all(&self) -> io::Result<()> {
        self.run(|f| f.sync_all())
    }

    /// Flushes data, and only the metadata needed to read it back (`fdatasync`).
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("greenlet-dsync-doc-{}", std::process::id()));
    /// greenlet::fs::File::create(&path)?.sync_data()?;
    /// greenlet::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn sync_data(&self) -> io::Result<()> {
        self.run(|f| f.sync_data())
    }

    /// The file's metadata.
    ///
    /// ```
    /// let f = greenlet::fs::File::open("Cargo.toml")?;
    /// assert!(f.metadata()?.is_file());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn metadata(&self) -> io::Result<Metadata> {
        self.run(|f| f.metadata())
    }

    /// Truncates or extends (with zeros) the file to `size` bytes; the offset does not move.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("greenlet-len-doc-{}", std::process::id()));
    /// let f = greenlet::fs::File::create(&path)?;
    /// f.set_len(1000)?;
    /// assert_eq!(f.metadata()?.len(), 1000);
    /// greenlet::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        self.run(move |f| f.set_len(size))
    }

    /// Changes the file's permissions.
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    /// let path = std::env::temp_dir().join(format!("greenlet-perm-doc-{}", std::process::id()));
    /// let f = greenlet::fs::File::create(&path)?;
    /// f.set_permissions(greenlet::fs::Permissions::from_mode(0o600))?;
    /// assert_eq!(f.metadata()?.permissions().mode() & 0o777, 0o600);
    /// greenlet::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        self.run(move |f| f.set_permissions(perm))
    }

    /// Another handle to the same open file (shared offset). Never fails; the `io::Result`
    /// matches std.
    ///
    /// ```
    /// let f = greenlet::fs::File::open("Cargo.toml")?;
    /// let g = f.try_clone()?;
    /// # drop((f, g));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<File> {
        Ok(self.clone())
    }
}

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len().min(MAX_OP);
        let data = self.run(move |mut f| {
            let mut data = vec![0; len];
            let n = f.read(&mut data)?;
            data.truncate(n);
            Ok(data)
        })?;
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let data = self.run(|mut f| {
            let mut data = Vec::new();
            f.read_to_end(&mut data).map(|_| data)
        })?;
        buf.extend_from_slice(&data);
        Ok(data.len())
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        let mut bytes = Vec::new();
        self.read_to_end(&mut bytes)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            )
        })?;
        buf.push_str(&text);
        Ok(text.len())
    }
}

impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let data = buf[..buf.len().min(MAX_OP)].to_vec();
        self.run(move |mut f| f.write(&data))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let data = buf.to_vec();
        self.run(move |mut f| f.write_all(&data))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // no user-space buffer: writes go straight to the file
    }
}

impl Seek for &File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.run(move |mut f| f.seek(pos))
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        (&*self).read_to_end(buf)
    }
    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        (&*self).read_to_string(buf)
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        (&*self).write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self).seek(pos)
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl From<std::fs::File> for File {
    /// Wraps a std file (see [`File::from_std`]).
    fn from(file: std::fs::File) -> File {
        File::from_std(file)
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
