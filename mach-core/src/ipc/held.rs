//! Rights the kernel keeps aside to answer a request later: the reply right
//! of a request a kernel server does not answer at once (a console read
//! waiting for input, a `thread_abort` waiting for its thread to stop), kept
//! here until the answer goes out on it or it is given up. The audit counts
//! held rights like rights in a queued message, so a held reply right is
//! accounted for while it waits.
//!
//! A [`Held`] handle names one slot and the slot's generation, so a handle
//! used twice finds nothing the second time.

use super::{Ipc, KRight};
use alloc::vec::Vec;

/// A right the kernel holds (see [`Ipc::hold_right`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    slot: u32,
    generation: u32,
}

/// The held rights: slots reused through a free list.
#[derive(Default)]
pub(crate) struct HeldRights {
    slots: Vec<(u32, Option<KRight>)>,
    free: Vec<u32>,
}

impl HeldRights {
    /// Every right held now.
    pub(crate) fn rights(&self) -> impl Iterator<Item = &KRight> {
        self.slots.iter().filter_map(|(_, r)| r.as_ref())
    }

    fn get(&self, h: Held) -> Option<&KRight> {
        match self.slots.get(h.slot as usize) {
            Some((g, Some(r))) if *g == h.generation => Some(r),
            _ => None,
        }
    }
}

impl Ipc {
    /// Keeps `right` (one the caller owns, e.g. a kernel request's reply
    /// right) until [`Self::take_held`] gives it back. `Err` gives the right
    /// back when memory for the slot cannot be had.
    pub fn hold_right(&mut self, right: KRight) -> Result<Held, KRight> {
        let held = &mut self.held;
        if let Some(slot) = held.free.pop() {
            let entry = &mut held.slots[slot as usize];
            entry.1 = Some(right);
            return Ok(Held {
                slot,
                generation: entry.0,
            });
        }
        let Ok(slot) = u32::try_from(held.slots.len()) else {
            return Err(right);
        };
        if held.slots.try_reserve(1).is_err() || held.free.try_reserve(held.slots.len() + 1).is_err() {
            return Err(right);
        }
        held.slots.push((0, Some(right)));
        Ok(Held { slot, generation: 0 })
    }

    /// Takes back the right behind `h` (`None`: already taken).
    pub fn take_held(&mut self, h: Held) -> Option<KRight> {
        let held = &mut self.held;
        let entry = held.slots.get_mut(h.slot as usize)?;
        if entry.0 != h.generation || entry.1.is_none() {
            return None;
        }
        let right = entry.1.take();
        entry.0 = entry.0.wrapping_add(1);
        // Room for every slot was reserved when the slot was made.
        held.free.push(h.slot);
        right
    }

    /// Gives up the right behind `h` (a send-once right sends its send-once
    /// notification, as any unused one does).
    pub fn release_held(&mut self, h: Held) {
        if let Some(r) = self.take_held(h) {
            self.release_right(r);
        }
    }

    /// Whether the right behind `h` still leads to a receiver: false once
    /// the port's receive right is gone (or the handle is stale).
    pub fn held_alive(&self, h: Held) -> bool {
        self.held
            .get(h)
            .and_then(KRight::port_id)
            .is_some_and(|p| self.port_is_alive(p))
    }

    /// How many rights the kernel holds this way.
    pub fn held_count(&self) -> usize {
        self.held.rights().count()
    }
}
