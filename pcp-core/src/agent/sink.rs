//! What a table-driven agent sees of one fetch: the [`Fetch`] it refreshes
//! for, and the [`Sink`] each metric's values go into. The sink types
//! every value from the descriptor, keeps singular and instance-domain
//! metrics apart, and drops instances the client's profile does not want,
//! so an agent writes values and nothing else.

use crate::answer::type_matches;
use crate::desc::Desc;
use crate::error::PmError;
use crate::id::PM_IN_NULL;
use crate::indom::Profile;
use crate::pmda::{ClientContext, InstValues, MetricResult};
use crate::value::Value;

/// One fetch as the agent's [`crate::agent::Agent::refresh`] sees it: the
/// metrics asked (each once, in request order), their clusters, who asks
/// and which instances they want.
#[derive(Debug)]
pub struct Fetch<'a, M> {
    pub(crate) metrics: &'a [M],
    pub(crate) clusters: &'a [u32],
    pub(crate) client: &'a ClientContext,
    pub(crate) profile: &'a Profile,
}

impl<'a, M: Copy> Fetch<'a, M> {
    /// The metrics asked, each once, in the order first asked.
    pub fn metrics(&self) -> &'a [M] {
        self.metrics
    }

    /// The clusters asked, ascending, each once (PCP's need-refresh).
    pub fn clusters(&self) -> &'a [u32] {
        self.clusters
    }

    /// True when a metric of `cluster` was asked.
    pub fn asks_cluster(&self, cluster: u32) -> bool {
        self.clusters.binary_search(&cluster).is_ok()
    }

    /// Who asks.
    pub fn client(&self) -> &'a ClientContext {
        self.client
    }

    /// Which instances the client wants (agents may skip the rest).
    pub fn profile(&self) -> &'a Profile {
        self.profile
    }
}

/// Where an agent puts one metric's values. Singular metrics take one
/// [`Sink::set`]; metrics with an instance domain take one [`Sink::put`]
/// per instance (or one [`Sink::put_slice`] of values the agent keeps).
/// Values of another type than the descriptor's are converted (a value
/// that does not fit fails the metric with the conversion's error);
/// instances the profile does not want are dropped before anything is
/// stored.
///
/// ```
/// use pcp_core::agent::Sink;
/// use pcp_core::*;
///
/// let indom = InDom::from_parts(400, 0);
/// let desc = Desc::new(Pmid::from_parts(400, 0, 1), Type::U32, indom,
///                      Semantics::Instant, Units::NONE);
/// let profile = Profile::only(indom, [1, 2]);
/// let client = ClientContext::anonymous();
/// let mut sink = Sink::new(&desc, &profile, &client);
/// for inst in 0..3u32 {
///     if sink.wants(inst) {
///         sink.put(inst, u64::from(inst) * 10); // a u64 into a u32 metric
///     }
/// }
/// assert_eq!(sink.finish(), Ok(vec![(1, Value::U32(10)), (2, Value::U32(20))]));
/// ```
#[derive(Debug)]
pub struct Sink<'a> {
    desc: &'a Desc,
    profile: &'a Profile,
    client: &'a ClientContext,
    all: bool,
    values: InstValues,
    error: Option<PmError>,
    /// Every instance so far came after the one before (no duplicate
    /// possible, nothing left to check at the end).
    ascending: bool,
}

impl<'a> Sink<'a> {
    /// An empty sink for a metric described by `desc`, for a client that
    /// wants the instances of `profile`.
    pub fn new(desc: &'a Desc, profile: &'a Profile, client: &'a ClientContext) -> Sink<'a> {
        Sink {
            desc,
            profile,
            client,
            all: desc.indom.is_null() || profile.is_all(),
            values: Vec::new(),
            error: None,
            ascending: true,
        }
    }

    /// The metric's descriptor.
    pub fn desc(&self) -> &Desc {
        self.desc
    }

    /// Who asks (for figures only some users may see).
    pub fn client(&self) -> &ClientContext {
        self.client
    }

    /// True when the client wants instance `inst` (always, for a singular
    /// metric). Check it before computing a costly value.
    pub fn wants(&self, inst: u32) -> bool {
        self.all || self.profile.wants(self.desc.indom, inst)
    }

    /// The value of a singular metric.
    pub fn set(&mut self, value: impl Into<Value>) {
        if !self.desc.indom.is_null() || !self.values.is_empty() {
            // A value without an instance for a metric that has them, or
            // two values for a singular metric.
            self.fail(PmError::INST);
            return;
        }
        self.store(PM_IN_NULL, value.into());
    }

    /// The value of instance `inst`.
    pub fn put(&mut self, inst: u32, value: impl Into<Value>) {
        if self.desc.indom.is_null() || inst == PM_IN_NULL {
            self.fail(PmError::INST);
            return;
        }
        if self.wants(inst) {
            self.store(inst, value.into());
        }
    }

    /// The values of several instances, as [`Sink::put`] each.
    pub fn put_all<V: Into<Value>>(&mut self, values: impl IntoIterator<Item = (u32, V)>) {
        for (inst, v) in values {
            self.put(inst, v);
        }
    }

    /// The values of several instances from a slice the agent keeps, in
    /// one pass: the same answer as [`Sink::put`] of each pair in order
    /// (types converted, unwanted instances dropped, `PM_IN_NULL` or a
    /// singular metric failing with `PM_ERR_INST`, the first failure
    /// winning), with room for all of them made once and each value cloned
    /// straight from the slice, for agents that keep a keyed map's values
    /// between fetches.
    ///
    /// ```
    /// use pcp_core::agent::Sink;
    /// use pcp_core::*;
    ///
    /// let indom = InDom::from_parts(400, 0);
    /// let desc = Desc::new(Pmid::from_parts(400, 0, 1), Type::U64, indom,
    ///                      Semantics::Counter, Units::NONE);
    /// let (profile, client) = (Profile::all(), ClientContext::anonymous());
    /// let kept = vec![(7, Value::U64(70)), (3, Value::U32(30))];
    /// let mut sink = Sink::new(&desc, &profile, &client);
    /// sink.put_slice(&kept);
    /// assert_eq!(sink.finish(), Ok(vec![(7, Value::U64(70)), (3, Value::U64(30))]));
    /// ```
    pub fn put_slice(&mut self, values: &[(u32, Value)]) {
        if values.is_empty() || self.error.is_some() {
            return;
        }
        if self.desc.indom.is_null() {
            self.fail(PmError::INST);
            return;
        }
        if self.all {
            self.values.reserve(values.len());
        }
        let ty = self.desc.ty;
        for (inst, value) in values {
            if *inst == PM_IN_NULL {
                self.fail(PmError::INST);
                return;
            }
            if !self.wants(*inst) {
                continue;
            }
            let value = if type_matches(value, ty) {
                value.clone()
            } else {
                match value.convert(ty) {
                    Ok(v) => v,
                    Err(e) => return self.fail(e),
                }
            };
            if let Some((last, _)) = self.values.last() {
                self.ascending &= *last < *inst;
            }
            self.values.push((*inst, value));
        }
    }

    /// Fails the metric with `err` (its values are dropped); the first
    /// failure wins.
    pub fn fail(&mut self, err: PmError) {
        if self.error.is_none() {
            self.error = Some(err);
        }
    }

    /// Values stored so far.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when nothing was stored.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn store(&mut self, inst: u32, value: Value) {
        if self.error.is_some() {
            return;
        }
        let value = if type_matches(&value, self.desc.ty) {
            value
        } else {
            match value.convert(self.desc.ty) {
                Ok(v) => v,
                Err(e) => return self.fail(e),
            }
        };
        if let Some((last, _)) = self.values.last() {
            self.ascending &= *last < inst;
        }
        self.values.push((inst, value));
    }

    /// The metric's answer: its values, or the first failure. Instances
    /// given twice keep their first value.
    pub fn finish(self) -> MetricResult {
        if let Some(e) = self.error {
            return Err(e);
        }
        // Types, the singular/instance rule and the profile were applied
        // as values came in; only duplicates may be left.
        let mut values = self.values;
        if !self.ascending {
            crate::answer::dedup_instances(&mut values);
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desc::{Semantics, Type, Units};
    use crate::id::{InDom, Pmid};

    const INDOM: InDom = InDom::from_parts(400, 3);

    /// Values put one by one (`before`), then `values` in one slice.
    struct Case {
        name: &'static str,
        ty: Type,
        indom: InDom,
        only: Option<[u32; 2]>,
        before: Vec<(u32, Value)>,
        values: Vec<(u32, Value)>,
        want: MetricResult,
    }

    fn u64s(ids: &[u32]) -> Vec<(u32, Value)> {
        ids.iter()
            .map(|&i| (i, Value::U64(u64::from(i) * 10)))
            .collect()
    }

    fn case(name: &'static str, values: Vec<(u32, Value)>, want: MetricResult) -> Case {
        Case {
            name,
            ty: Type::U64,
            indom: INDOM,
            only: None,
            before: Vec::new(),
            values,
            want,
        }
    }

    #[test]
    fn put_slice_answers_as_put_of_each_pair() {
        let cases = [
            case("ascending", u64s(&[1, 2, 5]), Ok(u64s(&[1, 2, 5]))),
            Case {
                ty: Type::U32,
                ..case(
                    "converted",
                    u64s(&[5, 2]),
                    Ok(vec![(5, Value::U32(50)), (2, Value::U32(20))]),
                )
            },
            Case {
                only: Some([2, 5]),
                ..case("profile", u64s(&[1, 2, 3, 5]), Ok(u64s(&[2, 5])))
            },
            Case {
                before: u64s(&[4]),
                ..case(
                    "duplicates keep the first",
                    vec![(1, Value::U64(1)), (4, Value::U64(2)), (1, Value::U64(3))],
                    Ok(vec![(4, Value::U64(40)), (1, Value::U64(1))]),
                )
            },
            Case {
                before: u64s(&[9]),
                ..case("after a put, out of order", u64s(&[1]), Ok(u64s(&[9, 1])))
            },
            case(
                "sign",
                vec![
                    (1, Value::U64(1)),
                    (2, Value::I64(-1)),
                    (PM_IN_NULL, Value::U64(3)),
                ],
                Err(PmError::SIGN),
            ),
            case(
                "conversion",
                vec![(1, Value::String("x".into()))],
                Err(PmError::CONV),
            ),
            case(
                "null instance",
                vec![(PM_IN_NULL, Value::U64(1)), (2, Value::I64(-1))],
                Err(PmError::INST),
            ),
            Case {
                indom: InDom::NULL,
                ..case("singular metric", u64s(&[1]), Err(PmError::INST))
            },
            Case {
                indom: InDom::NULL,
                ..case("empty", Vec::new(), Ok(Vec::new()))
            },
        ];
        let client = ClientContext::anonymous();
        for c in cases {
            let desc = Desc::new(
                Pmid::from_parts(400, 0, 1),
                c.ty,
                c.indom,
                Semantics::Instant,
                Units::NONE,
            );
            let profile = match c.only {
                Some(ids) => Profile::only(INDOM, ids),
                None => Profile::all(),
            };
            let mut one = Sink::new(&desc, &profile, &client);
            let mut bulk = Sink::new(&desc, &profile, &client);
            for (i, v) in &c.before {
                one.put(*i, v.clone());
                bulk.put(*i, v.clone());
            }
            for (i, v) in &c.values {
                one.put(*i, v.clone());
            }
            bulk.put_slice(&c.values);
            assert_eq!(one.finish(), c.want, "{}: put of each pair", c.name);
            assert_eq!(bulk.finish(), c.want, "{}: put_slice", c.name);
        }
    }
}
