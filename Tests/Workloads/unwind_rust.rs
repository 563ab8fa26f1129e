// Spins for SECONDS (argv[1]) of CPU time in Rust code without frame pointers, linked
// the way rustc links by default on x86-64 Linux (LLD, code segment 0x1000 above its
// file offset): main -> descend x4 -> mix. Every sample's user stack should unwind to _start.
use std::hint::black_box;

#[repr(C)]
struct Timespec {
    seconds: i64,
    nanoseconds: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
}

/// CPU time of the process (CLOCK_PROCESS_CPUTIME_ID): the run's length does not depend on the machine's load.
fn cpu_seconds() -> f64 {
    let mut time = Timespec { seconds: 0, nanoseconds: 0 };
    unsafe { clock_gettime(2, &mut time) };
    time.seconds as f64 + time.nanoseconds as f64 / 1e9
}

#[inline(never)]
fn mix(seed: u64) -> u64 {
    let mut x = seed;
    for i in 0..2000u64 {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    x
}

#[inline(never)]
fn descend(depth: u32, seed: u64) -> u64 {
    let frame = black_box([seed, seed + 1, seed + 2, seed + 3]);
    if depth == 0 {
        return mix(seed) ^ frame[1];
    }
    black_box(descend(depth - 1, seed.wrapping_mul(31).wrapping_add(depth as u64))) ^ frame[(depth & 3) as usize]
}

fn main() {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let end = cpu_seconds() + seconds;
    let mut seed = 1u64;
    while cpu_seconds() < end {
        seed = descend(4, seed);
    }
    println!("{}", seed);
}
