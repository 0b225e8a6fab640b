//! Per-greenlet values: [`Local`], like `gevent.local.local`.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

/// The values of one greenlet (or plain thread), by `Local` key.
#[derive(Default)]
pub(crate) struct LocalMap {
    entries: Vec<(usize, Box<dyn Any + Send>)>,
}

impl LocalMap {
    fn find<T: 'static>(&self, key: usize) -> Option<*const T> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.downcast_ref::<T>().expect("one type per key") as *const T)
    }

    fn insert<T: Send + 'static>(&mut self, key: usize, value: T) -> *const T {
        if let Some(existing) = self.find::<T>(key) {
            return existing; // made meanwhile by a nested `with` inside `init`
        }
        let boxed: Box<dyn Any + Send> = Box::new(value);
        let ptr = boxed.downcast_ref::<T>().expect("just boxed") as *const T;
        self.entries.push((key, boxed));
        ptr
    }
}

/// Drops a greenlet's `Local` values when its body ends (on an unwind too), inside the greenlet.
/// Made by the body as it starts, while the coroutine's slot is the running one.
pub(crate) struct DropAtEnd {
    slot: NonNull<Option<Box<LocalMap>>>,
    id: u64,
}

impl DropAtEnd {
    /// For the greenlet `id` whose body is starting on the calling coroutine.
    pub(crate) fn new(id: u64) -> DropAtEnd {
        DropAtEnd {
            slot: crate::coroutine::locals().expect("a greenlet's body runs on its coroutine"),
            id,
        }
    }
}

impl Drop for DropAtEnd {
    /// A destructor that panics is contained (and logged): the greenlet has already finished.
    /// Values that a destructor makes anew are dropped in turn.
    fn drop(&mut self) {
        // SAFETY: the slot is this coroutine's (see `new`), alive until its body has returned,
        // which is after this drop; each borrow ends before the values' destructors run.
        while let Some(map) = unsafe { &mut *self.slot.as_ptr() }.take() {
            if catch_unwind(AssertUnwindSafe(move || drop(map))).is_err() {
                log::error!("greenlet {}: a Local value panicked while dropped", self.id);
            }
        }
    }
}

thread_local! {
    static THREAD_LOCALS: RefCell<LocalMap> = RefCell::new(LocalMap::default());
}

static NEXT_KEY: AtomicUsize = AtomicUsize::new(1);

/// A value of which every greenlet sees its own copy, made on first use by `init` and dropped
/// when the greenlet ends. On a plain thread it holds one value per thread.
///
/// Use it where a thread-local would be wrong: a greenlet may move between worker threads, so a
/// `thread_local!` would be shared by the greenlets of one thread and change under a greenlet
/// that moves.
///
/// ```
/// use std::cell::RefCell;
/// use greenlet::local::Local;
///
/// static REQUEST_ID: Local<RefCell<String>> = Local::new(|| RefCell::new(String::new()));
///
/// let handles: Vec<_> = (0..3)
///     .map(|i| {
///         greenlet::spawn(move || {
///             REQUEST_ID.with(|id| *id.borrow_mut() = format!("request-{i}"));
///             greenlet::sleep(std::time::Duration::from_millis(5)); // others run meanwhile
///             REQUEST_ID.with(|id| id.borrow().clone())
///         })
///     })
///     .collect();
/// let ids: Vec<String> = greenlet::joinall(handles).into_iter().map(Result::unwrap).collect();
/// assert_eq!(ids, ["request-0", "request-1", "request-2"]);
/// ```
pub struct Local<T: Send + 'static> {
    init: fn() -> T,
    key: AtomicUsize,
}

impl<T: Send + 'static> Local<T> {
    /// A per-greenlet value made by `init` on each greenlet's first use.
    ///
    /// ```
    /// use std::cell::Cell;
    /// static CALLS: greenlet::local::Local<Cell<u32>> = greenlet::local::Local::new(|| Cell::new(0));
    /// CALLS.with(|c| c.set(c.get() + 1));
    /// assert_eq!(CALLS.with(Cell::get), 1);
    /// ```
    pub const fn new(init: fn() -> T) -> Local<T> {
        Local {
            init,
            key: AtomicUsize::new(0),
        }
    }

    fn key(&self) -> usize {
        let key = self.key.load(Ordering::Acquire);
        if key != 0 {
            return key;
        }
        let fresh = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        match self
            .key
            .compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => fresh,
            Err(existing) => existing,
        }
    }

    /// Calls `f` with the calling greenlet's value (or the calling thread's, on a plain thread).
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use greenlet::local::Local;
    /// static LOG: Local<RefCell<Vec<&str>>> = Local::new(|| RefCell::new(Vec::new()));
    /// LOG.with(|log| log.borrow_mut().push("main"));
    /// let other = greenlet::spawn(|| LOG.with(|log| log.borrow().len())); // its own, empty value
    /// assert_eq!(other.join().unwrap(), 0);
    /// assert_eq!(LOG.with(|log| log.borrow().clone()), ["main"]);
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        let key = self.key();
        let value: *const T = match crate::coroutine::locals() {
            Some(slot) => {
                // SAFETY: the running greenlet's own slot, alive while it runs, and touched only
                // by the code running on it, this call included; no other reference to it is
                // live here (a nested `with` in `init` below has ended before we look again).
                match unsafe { &*slot.as_ptr() }
                    .as_ref()
                    .and_then(|m| m.find::<T>(key))
                {
                    Some(v) => v,
                    None => {
                        // `init` runs with no borrow held: it may use other Locals.
                        let made = (self.init)();
                        // SAFETY: as above.
                        unsafe { &mut *slot.as_ptr() }
                            .get_or_insert_with(Box::default)
                            .insert(key, made)
                    }
                }
            }
            None => match THREAD_LOCALS.with(|m| m.borrow().find::<T>(key)) {
                Some(v) => v,
                None => {
                    let made = (self.init)();
                    THREAD_LOCALS.with(|m| m.borrow_mut().insert(key, made))
                }
            },
        };
        // SAFETY: values are boxed (their address never changes) and removed only when their
        // greenlet or thread ends, which cannot happen during this call.
        f(unsafe { &*value })
    }
}

impl<T: Send + 'static> fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Local").finish_non_exhaustive()
    }
}
