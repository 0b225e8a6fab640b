//! Starting a second flow of control and joining it: threading.Thread, multiprocessing.Process
//! and gevent.spawn, as greenlets.
//!
//!     cargo run --release --example spawn_join

use greenlet::{current, joinall, spawn, Builder};

/// Says who is running it: a greenlet (by name or id) or the main thread.
fn some_function(k: u32) {
    let who = match current() {
        Some(id) => format!("greenlet {id}"),
        None => "MainThread".to_string(),
    };
    println!("{k} from {who}");
}

fn main() {
    // threading.Thread(target=some_function, args=(2,)).start(); some_function(1)
    let snd = spawn(|| some_function(2));
    some_function(1);
    snd.join().unwrap();

    // multiprocessing.Process(...): a greenlet is the lightweight stand-in; a name helps logs.
    let named = Builder::new()
        .name("snd-process")
        .spawn(|| {
            some_function(2);
            greenlet::current().map(|id| id.to_string())
        })
        .expect("spawn");
    println!("named greenlet: {:?}", named.name());
    named.join().unwrap();

    // gevent.spawn(f, *args) and lambdas: closures capture their arguments.
    let add = |a: i32, b: i32| a + b;
    let jobs = vec![
        spawn(move || add(1, 2)),
        spawn(|| 10 * 10),
        spawn(|| "text".len() as i32),
    ];
    let results: Vec<i32> = joinall(jobs).into_iter().map(Result::unwrap).collect();
    println!("joinall results: {results:?}");
}
