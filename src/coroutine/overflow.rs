//! Stack overflow reports: a fault on a greenlet's guard page prints which greenlet overflowed
//! and how big its stack was, then aborts, instead of a bare "Segmentation fault".
//!
//! A SIGSEGV/SIGBUS handler runs on an alternate signal stack (the faulting stack is full). It
//! looks at the thread's running coroutine; if the fault address lies in that coroutine's guard
//! page, it writes the report with `write(2)` (no allocation, no locks) and aborts. Any other
//! fault is passed on to the handler that was installed before ours (std's own overflow
//! handler for thread stacks), or to the default action.

use std::cell::Cell;
use std::sync::OnceLock;

use super::{stack, Running, RUNNING};

/// The actions that were in place for SIGSEGV and SIGBUS before ours.
struct Previous {
    segv: libc::sigaction,
    bus: libc::sigaction,
}

// SAFETY: plain C data, written once before our handler is installed and only read afterwards.
unsafe impl Send for Previous {}
// SAFETY: as above: after initialisation it is only read.
unsafe impl Sync for Previous {}

static PREVIOUS: OnceLock<Previous> = OnceLock::new();
const ALT_STACK_SIZE: usize = 64 * 1024;

/// Installs the process-wide handler once. Called before the first worker starts.
pub(crate) fn install() {
    PREVIOUS.get_or_init(|| {
        // SAFETY: sigaction with a null new action only reads the current one. They are stored
        // before our handler is installed (below), so the handler always finds them.
        unsafe {
            let mut segv: libc::sigaction = std::mem::zeroed();
            let mut bus: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGSEGV, std::ptr::null(), &mut segv);
            libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut bus);
            Previous { segv, bus }
        }
    });
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: a zeroed struct with our handler and SA_SIGINFO|SA_ONSTACK installs it, the
        // documented way.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGSEGV, &action, std::ptr::null_mut());
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
        }
    });
}

/// Makes sure the calling thread has an alternate signal stack for the handler to run on.
/// std gives its threads one only when it installed its own handler; workers always get one.
pub(crate) fn ensure_altstack() {
    // SAFETY: stack_t is plain C data, valid when zeroed; querying with a null new-stack pointer
    // only reads the current setting into it.
    let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::sigaltstack(std::ptr::null(), &mut current) };
    if current.ss_flags & libc::SS_DISABLE == 0 {
        return;
    }
    // SAFETY: a fresh anonymous mapping for this thread's signal stack. It is never unmapped:
    // worker threads live as long as the process.
    let mem = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            ALT_STACK_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if mem == libc::MAP_FAILED {
        log::warn!("greenlet: no alternate signal stack for this worker: stack overflows will not be reported by name");
        return;
    }
    let alt = libc::stack_t {
        ss_sp: mem,
        ss_flags: 0,
        ss_size: ALT_STACK_SIZE,
    };
    // SAFETY: `alt` describes the mapping above, owned by this thread from now on.
    unsafe { libc::sigaltstack(&alt, std::ptr::null_mut()) };
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers. RUNNING is a const
    // thread-local (no lazy initialisation), so reading it here is async-signal-safe; the record
    // it points to lives in the running coroutine, which cannot be freed while it faults.
    unsafe {
        let addr = (*info).si_addr() as usize;
        let running: *const Running = RUNNING.with(Cell::get);
        if !running.is_null() {
            let r = &*running;
            if addr >= r.guard_start && addr < r.guard_start + stack::GUARD {
                report(r);
                libc::abort();
            }
        }
        // Installed only after PREVIOUS was set, so it is there (an atomic load, signal-safe).
        let Some(previous) = PREVIOUS.get() else {
            libc::abort();
        };
        let prev = if sig == libc::SIGSEGV {
            &previous.segv
        } else {
            &previous.bus
        };
        match prev.sa_sigaction {
            libc::SIG_DFL | libc::SIG_IGN => {
                // Restore the previous disposition; returning re-runs the faulting instruction,
                // which then gets the default action (a core dump).
                libc::sigaction(sig, prev, std::ptr::null_mut());
            }
            f if prev.sa_flags & libc::SA_SIGINFO != 0 => {
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    std::mem::transmute(f);
                f(sig, info, ctx);
            }
            f => {
                let f: extern "C" fn(libc::c_int) = std::mem::transmute(f);
                f(sig);
            }
        }
    }
}

/// Writes the report to stderr without allocating.
fn report(r: &Running) {
    let mut buf = Buf {
        bytes: [0; 512],
        len: 0,
    };
    buf.push(b"\ngreenlet: stack overflow in greenlet ");
    if let Some((ptr, len)) = r.name {
        // SAFETY: the name is a string owned by the greenlet that is running (see Coroutine::new).
        let name = unsafe { std::slice::from_raw_parts(ptr, len.min(200)) };
        buf.push(b"'");
        buf.push(name);
        buf.push(b"' ");
    }
    buf.push(b"(id ");
    buf.push_num(r.id);
    buf.push(b"), whose stack is ");
    buf.push_num(r.stack_size as u64);
    buf.push(b" bytes. Give it a bigger stack with Builder::stack_size, Config::stack_size or GREENLET_STACK_SIZE. Aborting.\n");
    // SAFETY: write(2) on fd 2 with a valid buffer is async-signal-safe.
    unsafe { libc::write(2, buf.bytes.as_ptr().cast(), buf.len) };
}

struct Buf {
    bytes: [u8; 512],
    len: usize,
}

impl Buf {
    fn push(&mut self, s: &[u8]) {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    fn push_num(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }
}
