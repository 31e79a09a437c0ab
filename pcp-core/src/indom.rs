//! Instance domains: instances (an internal id and an external name) and
//! fetch profiles, which say which instances a client wants.

use std::collections::HashMap;

use crate::id::InDom;

/// One instance of an instance domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Instance {
    /// Internal id, unique in its domain and stable while the instance lives.
    pub id: u32,
    /// External name; PCP treats the text up to the first space as unique too.
    pub name: String,
}

impl Instance {
    /// An instance from its id and name.
    pub fn new(id: u32, name: impl Into<String>) -> Instance {
        Instance {
            id,
            name: name.into(),
        }
    }
}

/// Finds the instance called `name` as pmcd's agents do: an exact match,
/// or, when `name` has no space, a match of an instance's name up to its
/// first space ("instance names are unique to the first space").
pub fn find_by_name<'a>(instances: &'a [Instance], name: &str) -> Option<&'a Instance> {
    instances.iter().find(|i| i.name == name).or_else(|| {
        if name.contains(' ') {
            return None;
        }
        instances
            .iter()
            .find(|i| i.name.split(' ').next() == Some(name))
    })
}

/// How one instance domain's instance list is read in a [`Profile`]
/// (`PM_PROFILE_INCLUDE` / `PM_PROFILE_EXCLUDE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileState {
    /// Every instance except the listed ones (code 0).
    AllExcept = 0,
    /// Only the listed instances (code 1).
    OnlyListed = 1,
}

/// A fetch profile: which instances of which instance domains a client
/// wants. The default wants every instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// What applies to instance domains with no entry.
    pub global: ProfileState,
    /// Per-domain entries.
    pub indoms: HashMap<InDom, (ProfileState, Vec<u32>)>,
}

impl Default for Profile {
    fn default() -> Profile {
        Profile::all()
    }
}

impl Profile {
    /// Every instance of every domain.
    pub fn all() -> Profile {
        Profile {
            global: ProfileState::AllExcept,
            indoms: HashMap::new(),
        }
    }

    /// Only `instances` of `indom` (everything of other domains).
    pub fn only(indom: InDom, instances: impl IntoIterator<Item = u32>) -> Profile {
        let mut p = Profile::all();
        p.indoms.insert(
            indom,
            (ProfileState::OnlyListed, instances.into_iter().collect()),
        );
        p
    }

    /// Adds instance `inst` of `indom` to an explicit list (turning the
    /// domain's entry into "only listed" if it was not one yet).
    pub fn add(&mut self, indom: InDom, inst: u32) {
        let e = self
            .indoms
            .entry(indom)
            .or_insert((ProfileState::OnlyListed, Vec::new()));
        if e.0 == ProfileState::AllExcept {
            e.1.retain(|&i| i != inst);
        } else if !e.1.contains(&inst) {
            e.1.push(inst);
        }
    }

    /// True when every instance of every domain is wanted.
    pub fn is_all(&self) -> bool {
        self.global == ProfileState::AllExcept
            && self
                .indoms
                .values()
                .all(|(s, l)| *s == ProfileState::AllExcept && l.is_empty())
    }

    /// True when `inst` of `indom` is wanted. Singular metrics
    /// ([`InDom::NULL`]) are always wanted.
    pub fn wants(&self, indom: InDom, inst: u32) -> bool {
        if indom.is_null() {
            return true;
        }
        match self.indoms.get(&indom) {
            Some((ProfileState::AllExcept, list)) => !list.contains(&inst),
            Some((ProfileState::OnlyListed, list)) => list.contains(&inst),
            None => self.global == ProfileState::AllExcept,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_matching_to_first_space() {
        let insts = vec![Instance::new(1, "1 minute"), Instance::new(5, "5 minute")];
        assert_eq!(find_by_name(&insts, "5").unwrap().id, 5);
        assert_eq!(find_by_name(&insts, "1 minute").unwrap().id, 1);
        assert!(find_by_name(&insts, "5 min").is_none());
        assert!(find_by_name(&insts, "15").is_none());
    }

    #[test]
    fn profiles() {
        let d = InDom::from_parts(60, 2);
        let other = InDom::from_parts(60, 3);
        let p = Profile::only(d, [5]);
        assert!(p.wants(d, 5));
        assert!(!p.wants(d, 1));
        assert!(p.wants(other, 1));
        assert!(p.wants(InDom::NULL, u32::MAX));
        assert!(Profile::all().is_all());
        assert!(!p.is_all());
    }
}
