//! greenlet::fs: std::fs on the thread pool. Blocking file calls (a FIFO with no writer yet)
//! park only their greenlets; kill unwinds at once; the API round-trips like std's.

use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::fs::{self, File, OpenOptions};
use greenlet::spawn;

/// A fresh directory for one test, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("greenlet-fs-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mkfifo(path: &std::path::Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo reads the NUL-terminated path, which lives across the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn functions_round_trip_like_std() {
    let dir = TempDir::new("functions");
    let d = dir.0.clone();
    spawn(move || {
        fs::create_dir_all(d.join("a/b")).unwrap();
        fs::write(d.join("a/b/one.txt"), "one").unwrap();
        fs::write(d.join("a/two.bin"), [1u8, 2, 3]).unwrap();
        assert_eq!(fs::read_to_string(d.join("a/b/one.txt")).unwrap(), "one");
        assert_eq!(fs::read(d.join("a/two.bin")).unwrap(), [1, 2, 3]);
        assert_eq!(fs::metadata(d.join("a/two.bin")).unwrap().len(), 3);
        fs::rename(d.join("a/two.bin"), d.join("a/b/two.bin")).unwrap();
        assert_eq!(
            fs::copy(d.join("a/b/one.txt"), d.join("a/copy.txt")).unwrap(),
            3
        );
        let mut names: Vec<_> = fs::read_dir(d.join("a/b"))
            .unwrap()
            .into_iter()
            .map(|e| {
                assert!(e.file_type().unwrap().is_file());
                assert_eq!(e.path(), d.join("a/b").join(e.file_name()));
                e.file_name().into_string().unwrap()
            })
            .collect();
        names.sort();
        assert_eq!(names, ["one.txt", "two.bin"]);
        let kinds: Vec<_> = fs::read_dir(d.join("a"))
            .unwrap()
            .into_iter()
            .map(|e| {
                (
                    e.file_name().into_string().unwrap(),
                    e.metadata().unwrap().is_dir(),
                )
            })
            .collect();
        assert_eq!(kinds.len(), 2);
        assert!(kinds.contains(&("b".into(), true)));
        fs::remove_file(d.join("a/copy.txt")).unwrap();
        assert_eq!(
            fs::read(d.join("a/copy.txt")).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            fs::read_dir(d.join("nope")).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        fs::remove_dir_all(d.join("a")).unwrap();
        assert!(fs::metadata(d.join("a")).is_err());
    })
    .join()
    .unwrap();
}

#[test]
fn file_read_write_seek_set_len_sync() {
    let dir = TempDir::new("file");
    let path = dir.0.join("data");
    let p = path.clone();
    spawn(move || {
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&p)
            .unwrap();
        // Larger than one pool op (4 MiB): write_all and read_to_end move it whole.
        let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        f.write_all(&big).unwrap();
        f.sync_all().unwrap();
        assert_eq!(f.seek(SeekFrom::Start(0)).unwrap(), 0);
        let mut back = Vec::new();
        f.read_to_end(&mut back).unwrap();
        assert!(back == big);
        // A single read of a huge buffer is short (at most 4 MiB), as Read allows.
        f.seek(SeekFrom::Start(0)).unwrap();
        let mut huge = vec![0; 5_000_000];
        let n = f.read(&mut huge).unwrap();
        assert!(n > 0 && n <= 4 << 20 && huge[..n] == big[..n]);
        // &File reads and writes too; try_clone shares the offset.
        let g = f.try_clone().unwrap();
        (&g).seek(SeekFrom::Start(10)).unwrap();
        let mut ten = [0; 10];
        (&f).read_exact(&mut ten).unwrap();
        assert_eq!(ten[..], big[10..20]);
        f.set_len(100).unwrap();
        assert_eq!(f.metadata().unwrap().len(), 100);
        (&f).write_all(b"tail").unwrap();
        f.sync_data().unwrap();
    })
    .join()
    .unwrap();
    let data = std::fs::read(&path).unwrap();
    assert_eq!(data.len(), 100);
    assert_eq!(&data[20..24], b"tail");
    std::fs::write(&path, [b'o', b'k', 0xff]).unwrap();
    let mut s = String::from("kept ");
    let e = File::open(&path)
        .unwrap()
        .read_to_string(&mut s)
        .unwrap_err();
    assert_eq!((e.kind(), s.as_str()), (ErrorKind::InvalidData, "kept "));
    assert!(File::create(dir.0.join("x/y")).is_err());
}

#[test]
fn blocked_file_calls_park_only_their_greenlets() {
    let dir = TempDir::new("fifo");
    // More blocked readers than there are workers: if a read held its worker, nothing else
    // could run.
    let fifos: Vec<_> = (0..8).map(|i| dir.0.join(format!("fifo{i}"))).collect();
    for f in &fifos {
        mkfifo(f);
    }
    let readers: Vec<_> = fifos
        .iter()
        .cloned()
        .map(|f| spawn(move || fs::read_to_string(f).unwrap()))
        .collect();
    let ticks = Arc::new(AtomicUsize::new(0));
    let t = ticks.clone();
    let ticker = spawn(move || {
        for _ in 0..20 {
            t.fetch_add(1, SeqCst);
            greenlet::sleep(Duration::from_millis(1));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ticker.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let ticked = ticks.load(SeqCst);
    // Unblock the readers (opening for writing releases their open, closing ends their read).
    for (i, f) in fifos.iter().enumerate() {
        std::fs::write(f, format!("fifo {i}")).unwrap();
    }
    for (i, r) in readers.into_iter().enumerate() {
        assert_eq!(r.join().unwrap(), format!("fifo {i}"));
    }
    assert_eq!(ticked, 20, "the workers were blocked by file reads");
}

#[test]
fn a_killed_file_call_unwinds_at_once_and_the_call_finishes_on_its_thread() {
    let dir = TempDir::new("kill");
    let fifo = dir.0.join("fifo");
    mkfifo(&fifo);
    let f = fifo.clone();
    let reader = spawn(move || fs::read(f));
    greenlet::sleep(Duration::from_millis(20));
    reader.kill();
    assert!(reader.join().unwrap_err().is_killed());
    let r = greenlet::with_timeout(Duration::from_millis(20), || fs::read(&fifo));
    assert!(r.is_err());
    // The pool threads still wait in open(); one writer releases every waiting opener.
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all(b"x").unwrap();
}
