//! Rust std threads: Mutex, Condvar, mpsc channels, join with results, many
//! short-lived threads and a Barrier. Each part prints one line with a
//! checksum that only a correct run gives; the last line is "threads ok".

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Condvar, Mutex};
use std::thread;

fn main() {
    // Mutex: 8 threads add 1 10,000 times each.
    let counter = Arc::new(Mutex::new(0u64));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let counter = counter.clone();
            thread::spawn(move || {
                for _ in 0..10_000 {
                    *counter.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    println!("mutex: {}", counter.lock().unwrap());

    // Condvar: a bounded queue between one producer and one consumer.
    let queue = Arc::new((Mutex::new(VecDeque::new()), Condvar::new()));
    let producer = {
        let queue = queue.clone();
        thread::spawn(move || {
            let (items, cv) = &*queue;
            for i in 0..1000u64 {
                let mut q = cv.wait_while(items.lock().unwrap(), |q| q.len() >= 16).unwrap();
                q.push_back(Some(i));
                cv.notify_all();
            }
            items.lock().unwrap().push_back(None);
            cv.notify_all();
        })
    };
    let (items, cv) = &*queue;
    let (mut sum, mut count) = (0u64, 0);
    loop {
        let mut q = cv.wait_while(items.lock().unwrap(), |q| q.is_empty()).unwrap();
        let item = q.pop_front().unwrap();
        cv.notify_all();
        match item {
            Some(i) => {
                sum += i;
                count += 1;
            }
            None => break,
        }
    }
    producer.join().unwrap();
    println!("condvar: {count} items, sum {sum}");

    // Channels: 4 senders, 250 messages each.
    let (tx, rx) = mpsc::channel();
    for s in 0..4u64 {
        let tx = tx.clone();
        thread::spawn(move || {
            for i in 0..250 {
                tx.send(s * 1000 + i).unwrap();
            }
        });
    }
    drop(tx);
    let received: Vec<u64> = rx.iter().collect();
    println!(
        "channel: {} messages, sum {}",
        received.len(),
        received.iter().sum::<u64>()
    );

    // Join: threads hand back results.
    let squares: u64 = (0..16u64)
        .map(|i| thread::spawn(move || i * i))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .sum();
    println!("join: 16 threads, sum of squares {squares}");

    // Many short-lived threads, a few alive at a time.
    let mut total = 0u64;
    for batch in 0..20u64 {
        let hs: Vec<_> = (0..10u64)
            .map(|i| thread::spawn(move || batch * 10 + i))
            .collect();
        total += hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>();
    }
    println!("short-lived: 200 threads, sum {total}");

    // Barrier: nobody passes before everyone has arrived.
    let barrier = Arc::new(Barrier::new(8));
    let arrived = Arc::new(AtomicUsize::new(0));
    let seen: Vec<usize> = (0..8)
        .map(|_| {
            let (barrier, arrived) = (barrier.clone(), arrived.clone());
            thread::spawn(move || {
                arrived.fetch_add(1, Ordering::SeqCst);
                barrier.wait();
                arrived.load(Ordering::SeqCst)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    println!(
        "barrier: 8 threads saw {}",
        seen.iter().min().copied().unwrap_or(0)
    );
    println!("threads ok");
}
