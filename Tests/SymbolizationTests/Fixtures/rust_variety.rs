// Rust code with many kinds of v0 names (const generics, dyn traits, fn pointers,
// higher-ranked lifetimes, raw pointers, tuples, closures) for the demangler tests.
use std::collections::HashMap;
use std::fmt::Debug;
trait Speak { fn speak(&self) -> String; }
struct Dog<const N: usize>([u8; N]);
impl<const N: usize> Speak for Dog<N> { #[inline(never)] fn speak(&self) -> String { format!("{}", N) } }
#[inline(never)] fn dynamic(x: &dyn Speak) -> String { x.speak() }
#[inline(never)] fn boxed(f: Box<dyn Fn(u32) -> u32 + Send>) -> u32 { f(3) }
#[inline(never)] fn fnptr(f: fn(&str) -> usize, s: &str) -> usize { f(s) }
#[inline(never)] fn with_const<const B: bool, const C: char>() -> u32 { if B { C as u32 } else { 0 } }
#[inline(never)] fn tuple<T: Debug>(t: (T, i64, [u16; 4]), s: &mut [f32]) -> String { format!("{:?}{}", t, s.len()) }
#[inline(never)] fn raw(p: *const u8, q: *mut i128) -> usize { p as usize + q as usize }
#[inline(never)] fn lifetimes<'a, 'b>(a: &'a str, b: &'b str) -> &'a str { if b.len() > 1 { a } else { a } }
#[inline(never)] fn hrtb(f: &dyn for<'a> Fn(&'a str) -> &'a str) -> usize { f("x").len() }
#[inline(never)] fn neg<const I: i32>() -> i32 { I }
#[inline(never)] fn grüße_für_alle(x: u32) -> u32 { x.wrapping_mul(x) ^ 0x1234 }
#[inline(never)] fn 计算(x: u32) -> u32 { x.rotate_left(x) + 7 }
fn main() {
    let mut m: HashMap<String, Vec<Option<u64>>> = HashMap::new();
    m.insert("a".into(), vec![Some(1)]);
    let v: Vec<u32> = (0..10).map(|x| x * 2).filter(|x| x % 3 == 0).collect();
    println!("{:?} {:?} {} {} {}", m, v, dynamic(&Dog([0u8; 3])), boxed(Box::new(|x| x + 1)), fnptr(str::len, "abc"));
    println!("{} {} {} {}", with_const::<true, 'x'>(), tuple((1u8, 2, [0; 4]), &mut [1.0]), raw(std::ptr::null(), std::ptr::null_mut()), lifetimes("a", "b"));
    println!("{} {} {} {}", hrtb(&|s| s), neg::<-5>(), grüße_für_alle(std::env::args().count() as u32), 计算(std::env::args().len() as u32));
}
