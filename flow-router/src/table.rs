//! Flows by id, in stable slots: cursors reach their flow by slot index, without hashing.

use std::collections::HashMap;
use std::sync::Arc;

/// A map from flow id to `T` whose entries live in reusable slots.
#[derive(Debug)]
pub(crate) struct Table<T> {
    slots: Vec<Option<T>>,
    free: Vec<usize>,
    index: HashMap<Arc<str>, usize>,
}

impl<T> Table<T> {
    pub(crate) fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn slot(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&T> {
        self.at(self.slot(id)?)
    }

    pub(crate) fn at(&self, slot: usize) -> Option<&T> {
        self.slots.get(slot)?.as_ref()
    }

    pub(crate) fn at_mut(&mut self, slot: usize) -> Option<&mut T> {
        self.slots.get_mut(slot)?.as_mut()
    }

    /// Inserts under `id`, replacing (and returning) any previous value; returns the slot.
    pub(crate) fn insert(&mut self, id: Arc<str>, value: T) -> (usize, Option<T>) {
        let previous = self.remove(&id);
        let slot = if let Some(slot) = self.free.pop() {
            self.slots[slot] = Some(value);
            slot
        } else {
            self.slots.push(Some(value));
            self.slots.len() - 1
        };
        self.index.insert(id, slot);
        (slot, previous)
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<T> {
        let slot = self.index.remove(id)?;
        self.free.push(slot);
        self.slots[slot].take()
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }

    /// Keeps the entries for which `keep` returns true; returns the ids removed.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&mut T) -> bool) -> Vec<Arc<str>> {
        let mut removed = Vec::new();
        let (slots, free) = (&mut self.slots, &mut self.free);
        self.index.retain(|id, slot| {
            let Some(value) = slots[*slot].as_mut() else {
                return false;
            };
            if keep(value) {
                return true;
            }
            slots[*slot] = None;
            free.push(*slot);
            removed.push(Arc::clone(id));
            false
        });
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_and_ids_stay_unique() {
        let mut table = Table::new();
        let (a, _) = table.insert(Arc::from("a"), 1);
        let (b, _) = table.insert(Arc::from("b"), 2);
        assert_ne!(a, b);
        assert_eq!(table.remove("a"), Some(1));
        assert_eq!(table.at(a), None);
        let (c, _) = table.insert(Arc::from("c"), 3);
        assert_eq!(c, a, "a freed slot is reused");
        let (b2, previous) = table.insert(Arc::from("b"), 4);
        assert_eq!(previous, Some(2));
        assert_eq!(
            (table.len(), table.get("b"), table.at(b2)),
            (2, Some(&4), Some(&4))
        );
        let removed = table.retain(|v| *v != 3);
        assert_eq!(removed, [Arc::from("c")]);
        assert_eq!(table.values().copied().collect::<Vec<_>>(), [4]);
        assert_eq!(table.slot("c"), None);
    }
}
