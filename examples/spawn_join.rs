//! Starting a second flow of control and joining it: threading.Thread, multiprocessing.Process
//! and gevent.spawn, as greenlets.
//!
//!     cargo run --release --example spawn_join

use std::time::Duration;

use greenlet::{current, joinall, sleep, spawn, Builder};

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

    // multiprocessing.Process(target=adder, args=(2, 2)); start(); join(): join returns the
    // function's result too.
    let adder = |a: i32, b: i32| a + b;
    let proc1 = spawn(move || adder(2, 2));
    println!("adder(2, 2) = {}", proc1.join().unwrap());

    // gevent: foo(message, n) sleeps n seconds (tenths here), then prints its message.
    fn foo(message: &str, n: u64) {
        sleep(Duration::from_millis(100 * n));
        println!("{message}");
    }
    let thread1 = spawn(|| foo("Hello", 1));
    let thread2 = spawn(|| foo("I live!", 2));
    let lambda = |x: i32| x + 1;
    let thread3 = spawn(move || lambda(2)); // gevent.spawn(lambda x: (x+1), 2)
    joinall([thread1, thread2]);
    println!("lambda result: {}", thread3.join().unwrap());

    // gevent.spawn(f, *args) and lambdas: closures capture their arguments.
    let jobs = vec![
        spawn(move || adder(1, 2)),
        spawn(|| 10 * 10),
        spawn(|| "text".len() as i32),
    ];
    let results: Vec<i32> = joinall(jobs).into_iter().map(Result::unwrap).collect();
    println!("joinall results: {results:?}");
}
