//! The `select!` and `select_biased!` macros: crossbeam-channel's syntax over [`Select`].
//!
//! Two stages. `@parse` turns the arms into a uniform list (`recv (args) (res) => { body },`,
//! the `default` arm set apart) whatever the commas and blocks; `@add` then adds each operation
//! to a `Select`, binding its handle by reference in a `match` (so that a temporary handle
//! lives as long as the select), and `@complete` dispatches on the index of the selected
//! operation, completing it and binding its result to the arm's pattern.
//!
//! [`Select`]: crate::channel::Select

/// Waits on several channel operations and runs the arm of the first that is ready (a random
/// one among those ready at once): crossbeam-channel's `select!`.
///
/// Arms: `recv(r) -> res => body`, `send(s, msg) -> res => body` (`msg` is evaluated only if
/// that send is selected), and at most one of `default => body` (run if nothing is ready now)
/// or `default(timeout) => body` (run if nothing is ready within `timeout`). `res` is the
/// `Result` of the operation: a send or receive on a disconnected channel is ready and gives an
/// error. Without a default arm the select waits, parking the greenlet (or blocking the
/// thread). Operations on the same channel may appear more than once.
///
/// ```
/// use std::time::Duration;
/// use greenlet::channel::{after, unbounded};
///
/// let (tx, rx) = unbounded();
/// greenlet::spawn(move || tx.send(42).unwrap());
/// greenlet::select! {
///     recv(rx) -> msg => assert_eq!(msg, Ok(42)),
///     recv(after(Duration::from_secs(10))) -> _ => panic!("timed out"),
/// }
/// ```
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__greenlet_select!(@parse new ($($tokens)*) ())
    };
}

/// [`select!`] that runs the arm of the first ready operation *in the order written* instead
/// of a random one.
///
/// ```
/// let (tx1, rx1) = greenlet::channel::unbounded();
/// let (tx2, rx2) = greenlet::channel::unbounded();
/// tx1.send(1).unwrap();
/// tx2.send(2).unwrap();
/// let got = greenlet::select_biased! {
///     recv(rx1) -> msg => msg.unwrap(),
///     recv(rx2) -> msg => msg.unwrap(),
/// };
/// assert_eq!(got, 1); // both ready: the first arm wins
/// ```
#[macro_export]
macro_rules! select_biased {
    ($($tokens:tt)*) => {
        $crate::__greenlet_select!(@parse new_biased ($($tokens)*) ())
    };
}

/// The implementation of [`select!`] and [`select_biased!`]; not a public interface.
#[doc(hidden)]
#[macro_export]
macro_rules! __greenlet_select {
    // ---- @parse: normalize the arms ----
    (@parse $ctor:ident () ($($arms:tt)*)) => {
        $crate::__greenlet_select!(@split $ctor ($($arms)*) () ())
    };
    (@parse $ctor:ident (default => $($tail:tt)*) $arms:tt) => {
        $crate::__greenlet_select!(@parse $ctor (default() => $($tail)*) $arms)
    };
    (@parse $ctor:ident (default -> $($tail:tt)*) $arms:tt) => {
        compile_error!("expected `=>` after `default`, found `->`")
    };
    (@parse $ctor:ident (default ($($args:tt)*) => { $($body:tt)* }, $($tail:tt)*) ($($arms:tt)*)) => {
        $crate::__greenlet_select!(@parse $ctor ($($tail)*) ($($arms)* default ($($args)*) () => { $($body)* },))
    };
    (@parse $ctor:ident (default ($($args:tt)*) => $body:expr, $($tail:tt)*) ($($arms:tt)*)) => {
        $crate::__greenlet_select!(@parse $ctor ($($tail)*) ($($arms)* default ($($args)*) () => { $body },))
    };
    (@parse $ctor:ident (default ($($args:tt)*) => { $($body:tt)* } $($tail:tt)*) ($($arms:tt)*)) => {
        $crate::__greenlet_select!(@parse $ctor ($($tail)*) ($($arms)* default ($($args)*) () => { $($body)* },))
    };
    (@parse $ctor:ident (default ($($args:tt)*) => $body:expr) ($($arms:tt)*)) => {
        $crate::__greenlet_select!(@parse $ctor () ($($arms)* default ($($args)*) () => { $body },))
    };
    (@parse $ctor:ident ($kind:ident ($($args:tt)*) => $($tail:tt)*) $arms:tt) => {
        compile_error!(concat!("expected `-> result` after `", stringify!($kind), "(..)`"))
    };
    (@parse $ctor:ident ($kind:ident ($($args:tt)*) -> $res:pat => { $($body:tt)* }, $($tail:tt)*) ($($arms:tt)*)) => {
        $crate::__greenlet_select!(@parse $ctor ($($tail)*) ($($arms)* $kind ($($args)*) ($res) => { $($body)* },))
    };
    (@parse $ctor:ident ($kind:ident ($($args:tt)*) -> $res:pat => $body:expr, $($tail:tt)*) ($($arms:tt)*)) => {
        $crate::__greenlet_select!(@parse $ctor ($($tail)*) ($($arms)* $kind ($($args)*) ($res) => { $body },))
    };
    (@parse $ctor:ident ($kind:ident ($($args:tt)*) -> $res:pat => { $($body:tt)* } $($tail:tt)*) ($($arms:tt)*)) => {
        $crate::__greenlet_select!(@parse $ctor ($($tail)*) ($($arms)* $kind ($($args)*) ($res) => { $($body)* },))
    };
    (@parse $ctor:ident ($kind:ident ($($args:tt)*) -> $res:pat => $body:expr) ($($arms:tt)*)) => {
        $crate::__greenlet_select!(@parse $ctor () ($($arms)* $kind ($($args)*) ($res) => { $body },))
    };
    (@parse $ctor:ident ($($tail:tt)*) $arms:tt) => {
        compile_error!(concat!(
            "expected `recv(r) -> res => body`, `send(s, msg) -> res => body` or `default => body`, found: ",
            stringify!($($tail)*)
        ))
    };

    // ---- @split: set the default arm apart ----
    (@split $ctor:ident () $ops:tt $default:tt) => {
        $crate::__greenlet_select!(@start $ctor $ops $default)
    };
    (@split $ctor:ident (default $args:tt () => $body:tt, $($tail:tt)*) $ops:tt ()) => {
        $crate::__greenlet_select!(@split $ctor ($($tail)*) $ops ($args $body))
    };
    (@split $ctor:ident (default $($tail:tt)*) $ops:tt $default:tt) => {
        compile_error!("there can be only one `default` arm")
    };
    (@split $ctor:ident (recv $args:tt $res:tt => $body:tt, $($tail:tt)*) ($($ops:tt)*) $default:tt) => {
        $crate::__greenlet_select!(@split $ctor ($($tail)*) ($($ops)* recv $args $res $body) $default)
    };
    (@split $ctor:ident (send $args:tt $res:tt => $body:tt, $($tail:tt)*) ($($ops:tt)*) $default:tt) => {
        $crate::__greenlet_select!(@split $ctor ($($tail)*) ($($ops)* send $args $res $body) $default)
    };
    (@split $ctor:ident ($kind:ident $($tail:tt)*) $ops:tt $default:tt) => {
        compile_error!(concat!("unknown select operation `", stringify!($kind), "`: expected `recv`, `send` or `default`"))
    };

    // ---- @add: add each operation, binding its handle ----
    (@start $ctor:ident $ops:tt $default:tt) => {{
        #[allow(unused_mut)]
        let mut __select = $crate::channel::Select::$ctor();
        $crate::__greenlet_select!(@add __select $ops () $default)
    }};
    (@add $sel:ident (recv ($r:expr $(,)?) $res:tt $body:tt $($tail:tt)*) ($($done:tt)*) $default:tt) => {
        match $r {
            ref __handle => {
                let __handle: &$crate::channel::Receiver<_> = __handle;
                let __index = $sel.recv(__handle);
                $crate::__greenlet_select!(@add $sel ($($tail)*) ($($done)* (recv __handle __index $res $body)) $default)
            }
        }
    };
    (@add $sel:ident (send ($s:expr, $m:expr $(,)?) $res:tt $body:tt $($tail:tt)*) ($($done:tt)*) $default:tt) => {
        match $s {
            ref __handle => {
                let __handle: &$crate::channel::Sender<_> = __handle;
                let __index = $sel.send(__handle);
                $crate::__greenlet_select!(@add $sel ($($tail)*) ($($done)* (send __handle __index $res $body ($m))) $default)
            }
        }
    };
    (@add $sel:ident (recv $args:tt $($tail:tt)*) $done:tt $default:tt) => {
        compile_error!(concat!("expected one argument, a receiver: recv", stringify!($args)))
    };
    (@add $sel:ident (send $args:tt $($tail:tt)*) $done:tt $default:tt) => {
        compile_error!(concat!("expected two arguments, a sender and a message: send", stringify!($args)))
    };
    (@add $sel:ident () $done:tt ()) => {{
        let __oper = $sel.select();
        $crate::__greenlet_select!(@complete __oper $done)
    }};
    (@add $sel:ident () $done:tt (() $body:tt)) => {
        match $sel.try_select() {
            ::std::result::Result::Ok(__oper) => $crate::__greenlet_select!(@complete __oper $done),
            ::std::result::Result::Err(_) => $body,
        }
    };
    (@add $sel:ident () $done:tt (($timeout:expr $(,)?) $body:tt)) => {
        match $sel.select_timeout($timeout) {
            ::std::result::Result::Ok(__oper) => $crate::__greenlet_select!(@complete __oper $done),
            ::std::result::Result::Err(_) => $body,
        }
    };

    // ---- @complete: run the selected operation's arm ----
    (@complete $oper:ident ()) => {{
        ::std::mem::forget($oper);
        ::std::unreachable!("select chose an operation it does not have")
    }};
    (@complete $oper:ident ((recv $h:ident $i:ident ($res:pat) $body:tt) $($rest:tt)*)) => {
        if $oper.index() == $i {
            let $res = $oper.recv($h);
            $body
        } else {
            $crate::__greenlet_select!(@complete $oper ($($rest)*))
        }
    };
    (@complete $oper:ident ((send $h:ident $i:ident ($res:pat) $body:tt ($m:expr)) $($rest:tt)*)) => {
        if $oper.index() == $i {
            let $res = $oper.send($h, $m);
            $body
        } else {
            $crate::__greenlet_select!(@complete $oper ($($rest)*))
        }
    };
}
