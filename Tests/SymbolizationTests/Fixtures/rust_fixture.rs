// A Rust executable for the demangling and frame-type tests: prints the run-time
// addresses of its functions, then waits for stdin to close.
use std::io::Read;

pub struct Widget<T> {
    value: T,
}

impl<T: Copy + Into<u64>> Widget<T> {
    #[inline(never)]
    pub fn measure(&self) -> u64 {
        self.value.into() * 7
    }
}

pub trait Shape {
    fn area(&self) -> u64;
}

impl Shape for Widget<u32> {
    #[inline(never)]
    fn area(&self) -> u64 {
        self.value as u64 * 2
    }
}

#[inline(never)]
pub fn generic_function<T: Copy + Into<u64>>(value: T) -> u64 {
    value.into() + 1
}

#[inline(never)]
pub fn plain_function(value: u64) -> u64 {
    value ^ 0x55
}

fn main() {
    let widget = Widget { value: 5u32 };
    println!("plain_function {:p}", plain_function as *const ());
    println!("generic_function {:p}", generic_function::<u32> as *const ());
    println!("measure {:p}", Widget::<u32>::measure as *const ());
    println!("area {:p}", <Widget<u32> as Shape>::area as *const ());
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).ok();
    let total = plain_function(1) + generic_function(2u32) + widget.measure() + widget.area();
    std::process::exit(if total > 1_000_000 { 1 } else { 0 });
}
