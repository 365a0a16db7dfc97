// Cache-line ping-pong between two threads pinned to CPUs a and b: the
// round-trip time of one line, ns.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
extern "C" { fn sched_setaffinity(pid: i32, size: usize, mask: *const u64) -> i32; }
fn pin(cpu: usize) { let mask: [u64; 16] = { let mut m = [0u64; 16]; m[cpu / 64] = 1 << (cpu % 64); m }; unsafe { sched_setaffinity(0, 128, mask.as_ptr()); } }
#[repr(align(128))] struct Line(AtomicU64);
fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().unwrap()).collect();
    let (a, b) = (args[0], args[1]);
    let n: u64 = 200_000;
    let line = Arc::new(Line(AtomicU64::new(0)));
    let l2 = line.clone();
    let t = std::thread::spawn(move || { pin(b); for i in 0..n { while l2.0.load(Ordering::Acquire) != 2 * i + 1 {} l2.0.store(2 * i + 2, Ordering::Release); } });
    pin(a);
    let start = Instant::now();
    for i in 0..n { line.0.store(2 * i + 1, Ordering::Release); while line.0.load(Ordering::Acquire) != 2 * i + 2 {} }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    t.join().unwrap();
    println!("cpus {a},{b}: round trip {ns:.0} ns");
}
