//! Host tests for the frame allocator.

use super::*;
use std::collections::BTreeSet;
use std::vec;
use std::vec::Vec;

const P: u64 = PAGE_SIZE;
const MIB: u64 = 1 << 20;

fn r(start: u64, end: u64) -> PhysRange {
    PhysRange { start, end }
}

fn bitmap(max_phys: u64) -> Vec<u64> {
    vec![0; FrameAllocator::bitmap_words(max_phys)]
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[test]
fn bitmap_words_rounding() {
    assert_eq!(FrameAllocator::bitmap_words(0), 0);
    assert_eq!(FrameAllocator::bitmap_words(1), 1);
    assert_eq!(FrameAllocator::bitmap_words(64 * P), 1);
    assert_eq!(FrameAllocator::bitmap_words(64 * P + 1), 2);
    assert_eq!(FrameAllocator::bitmap_words(128 * P), 2);
    assert_eq!(FrameAllocator::bitmap_words(4 << 30), (1 << 20) / 64);
    assert_eq!(
        FrameAllocator::bitmap_words(u64::MAX),
        usize::try_from(1u64 << 46).unwrap()
    );
}

#[test]
fn typical_boot_memory_map() {
    // Low memory 0..640K usable, 1M..128M usable; kernel image, boot info and a module
    // reserved inside, one of them straddling a range edge.
    let mut bm = bitmap(128 * MIB);
    let usable = [r(0, 640 * 1024), r(MIB, 128 * MIB)];
    let kernel = r(MIB, 3 * MIB + 100); // rounded outward: 1M..3M+4K
    let boot_info = r(0x9_F000, 0x10_0000 + 10); // straddles 640K..1M gap into 1M
    let module = r(64 * MIB + 1, 65 * MIB - 1); // unaligned both ends
    let a = FrameAllocator::new(&mut bm, &usable, &[kernel, boot_info, module]);

    let low = 160 - 1 - 1; // 160 frames, minus frame 0, minus 0x9F000 (boot_info)
    let high = (127 * MIB / P) as usize;
    let kernel_frames = (2 * MIB / P) as usize + 1;
    let module_frames = (MIB / P) as usize;
    // boot_info's tail touches frame 0x100, which the kernel already covers.
    assert_eq!(a.usable_count(), low + high - kernel_frames - module_frames);
    assert_eq!(a.free_count(), a.usable_count());

    assert!(a.is_allocated(0));
    assert!(!a.is_allocated(P));
    assert!(a.is_allocated(0x9_F000));
    assert!(!a.is_allocated(0x9_E000));
    assert!(a.is_allocated(0xA_0000)); // gap
    assert!(a.is_allocated(MIB));
    assert!(a.is_allocated(3 * MIB));
    assert!(!a.is_allocated(3 * MIB + P));
    assert!(a.is_allocated(64 * MIB));
    assert!(a.is_allocated(65 * MIB - P));
    assert!(!a.is_allocated(65 * MIB));
    assert!(!a.is_allocated(64 * MIB - P));
    assert!(!a.is_allocated(128 * MIB - P));
    assert!(a.is_allocated(128 * MIB)); // beyond the bitmap
}

#[test]
fn usable_ranges_round_inward() {
    let mut bm = bitmap(64 * P);
    let a = FrameAllocator::new(&mut bm, &[r(P + 1, 4 * P - 1), r(10 * P, 11 * P)], &[]);
    // [P+1, 4P-1) -> frames 2 and 3... inward: start 2P, end 3P -> frame 2 only.
    assert_eq!(a.usable_count(), 2);
    assert!(a.is_allocated(P));
    assert!(!a.is_allocated(2 * P));
    assert!(a.is_allocated(3 * P));
    assert!(!a.is_allocated(10 * P));
    assert!(a.is_allocated(11 * P));
}

#[test]
fn sub_page_and_degenerate_ranges() {
    let mut bm = bitmap(64 * P);
    let usable = [r(P + 1, 2 * P - 1), r(5 * P, 5 * P), r(9 * P, 3 * P)];
    let a = FrameAllocator::new(&mut bm, &usable, &[r(7 * P, 2 * P)]);
    assert_eq!(a.usable_count(), 0);
    let mut bm = bitmap(64 * P);
    // A zero-length reservation reserves nothing, a one-byte one reserves a frame.
    let a = FrameAllocator::new(&mut bm, &[r(0, 8 * P)], &[r(3 * P, 3 * P), r(5 * P, 5 * P + 1)]);
    assert_eq!(a.usable_count(), 6);
    assert!(a.is_allocated(5 * P));
}

#[test]
fn frame_zero_never_handed_out() {
    let mut bm = bitmap(4 * P);
    let mut a = FrameAllocator::new(&mut bm, &[r(0, 4 * P)], &[]);
    assert_eq!(a.usable_count(), 3);
    let mut got = BTreeSet::new();
    while let Some(f) = a.alloc() {
        assert!(got.insert(f));
    }
    assert_eq!(got.into_iter().collect::<Vec<_>>(), [P, 2 * P, 3 * P]);
    assert_eq!(a.free(0), Err(FrameError::NotAllocated));
    assert_eq!(a.free_contiguous(0, 2), Err(FrameError::NotAllocated));
    assert_eq!(a.free_count(), 0);
}

#[test]
fn ranges_beyond_bitmap_ignored() {
    let mut bm = vec![0u64; 1]; // 64 frames
    let a = FrameAllocator::new(&mut bm, &[r(0, u64::MAX), r(u64::MAX - P, u64::MAX)], &[]);
    assert_eq!(a.total_frames(), 64);
    assert_eq!(a.usable_count(), 63);
    let mut empty: [u64; 0] = [];
    let mut a = FrameAllocator::new(&mut empty, &[r(0, MIB)], &[r(0, u64::MAX)]);
    assert_eq!(a.usable_count(), 0);
    assert_eq!(a.alloc(), None);
    assert_eq!(a.alloc_contiguous(1, 1), None);
    assert_eq!(a.free(P), Err(FrameError::OutOfRange));
}

#[test]
fn reserved_range_to_end_of_address_space() {
    let mut bm = bitmap(64 * P);
    let a = FrameAllocator::new(&mut bm, &[r(0, 64 * P)], &[r(60 * P + 5, u64::MAX)]);
    assert_eq!(a.usable_count(), 59);
}

#[test]
fn alloc_until_exhaustion_then_free() {
    let mut bm = bitmap(200 * P);
    let mut a = FrameAllocator::new(&mut bm, &[r(0, 200 * P)], &[r(50 * P, 60 * P)]);
    let usable = a.usable_count();
    assert_eq!(usable, 199 - 10);
    let mut got = Vec::new();
    while let Some(f) = a.alloc() {
        assert_eq!(f % P, 0);
        assert!(!(50 * P..60 * P).contains(&f));
        got.push(f);
    }
    assert_eq!(got.len(), usable);
    assert_eq!(a.free_count(), 0);
    assert_eq!(a.alloc(), None);
    assert_eq!(a.alloc_contiguous(1, 1), None);
    for (i, f) in got.iter().enumerate() {
        a.free(*f).unwrap();
        assert_eq!(a.free_count(), i + 1);
    }
    assert_eq!(a.free_count(), usable);
    // Everything is allocatable again.
    let mut again = 0;
    while a.alloc().is_some() {
        again += 1;
    }
    assert_eq!(again, usable);
}

#[test]
fn free_errors() {
    let mut bm = bitmap(64 * P);
    let mut a = FrameAllocator::new(&mut bm, &[r(0, 64 * P)], &[]);
    let f = a.alloc().unwrap();
    assert_eq!(a.free(f + 1), Err(FrameError::NotAligned));
    assert_eq!(a.free(f + P - 1), Err(FrameError::NotAligned));
    assert_eq!(a.free(64 * P), Err(FrameError::OutOfRange));
    assert_eq!(a.free(!(P - 1)), Err(FrameError::OutOfRange));
    let before = a.free_count();
    a.free(f).unwrap();
    assert_eq!(a.free_count(), before + 1);
    assert_eq!(a.free(f), Err(FrameError::NotAllocated));
    assert_eq!(a.free_count(), before + 1);
    // A never-allocated (free) frame.
    assert_eq!(a.free(30 * P), Err(FrameError::NotAllocated));
    assert_eq!(a.free_contiguous(f, usize::MAX), Err(FrameError::OutOfRange));
    assert_eq!(a.free_contiguous(63 * P, 2), Err(FrameError::OutOfRange));
    assert_eq!(a.free_contiguous(3, 1), Err(FrameError::NotAligned));
    assert_eq!(a.free_contiguous(f, 0), Ok(()));
}

#[test]
fn next_fit_moves_forward() {
    let mut bm = bitmap(256 * P);
    let mut a = FrameAllocator::new(&mut bm, &[r(0, 256 * P)], &[]);
    let first: Vec<u64> = (0..100).map(|_| a.alloc().unwrap()).collect();
    for w in first.windows(2) {
        assert!(w[1] > w[0]);
    }
    // Freeing low frames does not make the allocator rescan from the bottom
    // until the top is exhausted.
    a.free(first[0]).unwrap();
    let next = a.alloc().unwrap();
    assert!(next > first[99]);
}

#[test]
fn contiguous_alignment() {
    let mut bm = bitmap(1024 * P);
    let mut a = FrameAllocator::new(&mut bm, &[r(0, 1024 * P)], &[r(3 * P, 4 * P)]);
    let x = a.alloc_contiguous(4, 1).unwrap();
    assert_eq!(x, 4 * P); // frames 1,2 too short, frame 3 reserved
    let y = a.alloc_contiguous(8, 16).unwrap();
    assert_eq!(y % (16 * P), 0);
    assert_eq!(y, 16 * P);
    let z = a.alloc_contiguous(512, 512).unwrap();
    assert_eq!(z, 512 * P);
    assert_eq!(a.alloc_contiguous(1, 0), Some(P)); // align 0 == 1
    assert_eq!(a.alloc_contiguous(0, 1), None);
    assert_eq!(a.alloc_contiguous(1, usize::MAX), None);
    assert_eq!(a.alloc_contiguous(usize::MAX, 1), None);
    // Non-power-of-two alignment still yields multiples.
    let w = a.alloc_contiguous(2, 3).unwrap();
    assert_eq!((w / P) % 3, 0);
    for f in 0..4 {
        assert!(a.is_allocated(x + f * P));
    }
    let before = a.free_count();
    a.free_contiguous(z, 512).unwrap();
    assert_eq!(a.free_count(), before + 512);
}

#[test]
fn contiguous_fails_on_fragmentation() {
    let mut bm = bitmap(128 * P);
    let mut a = FrameAllocator::new(&mut bm, &[r(0, 128 * P)], &[]);
    let all: Vec<u64> = core::iter::from_fn(|| a.alloc()).collect();
    assert_eq!(all.len(), 127);
    // Free every other frame: plenty of free frames, no run of two.
    for f in all.iter().step_by(2) {
        a.free(*f).unwrap();
    }
    assert_eq!(a.free_count(), 64);
    assert_eq!(a.alloc_contiguous(2, 1), None);
    assert_eq!(a.free_count(), 64);
    assert!(a.alloc_contiguous(1, 1).is_some());
}

#[test]
fn contiguous_run_across_word_boundaries() {
    let mut bm = bitmap(512 * P);
    let mut a = FrameAllocator::new(&mut bm, &[r(0, 512 * P)], &[r(100 * P, 101 * P)]);
    let x = a.alloc_contiguous(200, 1).unwrap();
    assert_eq!(x, 101 * P);
    let y = a.alloc_contiguous(99, 1).unwrap();
    assert_eq!(y, P);
    assert_eq!(a.alloc_contiguous(300, 1), None);
    assert_eq!(a.free_count(), 511 - 1 - 200 - 99);
}

#[test]
fn free_contiguous_validates_before_freeing() {
    let mut bm = bitmap(64 * P);
    let mut a = FrameAllocator::new(&mut bm, &[r(0, 64 * P)], &[]);
    let x = a.alloc_contiguous(8, 1).unwrap();
    a.free(x + 5 * P).unwrap();
    let before = a.free_count();
    assert_eq!(a.free_contiguous(x, 8), Err(FrameError::NotAllocated));
    assert_eq!(a.free_count(), before);
    for f in [0, 1, 2, 3, 4, 6, 7] {
        assert!(a.is_allocated(x + f * P), "frame {f} was freed");
    }
    a.free_contiguous(x, 5).unwrap();
    a.free_contiguous(x + 6 * P, 2).unwrap();
    assert_eq!(a.free_count(), a.usable_count());
}

#[test]
fn randomised_against_model() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let frames = 1000u64;
    let mut bm = bitmap(frames * P);
    let reserved = [r(100 * P + 7, 130 * P), r(640 * P, 641 * P)];
    let mut a = FrameAllocator::new(&mut bm, &[r(P / 2, frames * P)], &reserved);
    let usable = a.usable_count();
    assert_eq!(usable, 999 - 30 - 1);
    let mut held: Vec<(u64, usize)> = Vec::new();
    let mut model_free = usable;
    for _ in 0..20_000 {
        match rng.next() % 6 {
            0 | 1 => match a.alloc() {
                Some(f) => {
                    assert!(f != 0 && f < frames * P && f % P == 0);
                    assert!(!reserved.iter().any(|x| f + P > x.start && f < x.end));
                    held.push((f, 1));
                    model_free -= 1;
                }
                None => assert_eq!(model_free, 0),
            },
            2 => {
                let count = (rng.next() % 9) as usize;
                let align = 1usize << (rng.next() % 4);
                if let Some(f) = a.alloc_contiguous(count, align) {
                    assert_eq!((f / P) % align as u64, 0);
                    held.push((f, count));
                    model_free -= count;
                }
            }
            3 | 4 if !held.is_empty() => {
                let i = (rng.next() % held.len() as u64) as usize;
                let (f, count) = held.swap_remove(i);
                a.free_contiguous(f, count).unwrap();
                model_free += count;
                assert_eq!(a.free(f), Err(FrameError::NotAllocated));
            }
            _ => {
                let f = (rng.next() % (frames + 100)) * P;
                let is_held = held.iter().any(|&(h, c)| f >= h && f < h + c as u64 * P);
                if !is_held {
                    // Free or reserved; freeing a free frame must be refused.
                    if !a.is_allocated(f) {
                        assert_eq!(a.free(f), Err(FrameError::NotAllocated));
                    } else if f >= a.total_frames() as u64 * P {
                        assert_eq!(a.free(f), Err(FrameError::OutOfRange));
                    }
                }
            }
        }
        assert_eq!(a.free_count(), model_free);
    }
    // No two held runs overlap.
    let mut all = BTreeSet::new();
    for &(f, c) in &held {
        for k in 0..c as u64 {
            assert!(all.insert(f + k * P));
        }
    }
    for (f, c) in held {
        a.free_contiguous(f, c).unwrap();
    }
    assert_eq!(a.free_count(), usable);
}
