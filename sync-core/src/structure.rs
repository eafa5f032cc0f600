//! Whether changes fit the history of the document they are applied to.
//!
//! automerge 0.12 trusts the changes it is given: a hand-made change whose seq skips, whose op
//! counters start at or below its actor's earlier ones or below its dependencies', or whose ops name
//! objects, elements or predecessors the document does not have, either trips an assertion inside
//! automerge or is applied in memory and then saved as a document that no longer loads. Every change
//! a device makes with automerge passes these checks; they run before automerge sees the changes.
//!
//! The checks are done here by hand because automerge has no public validation of changes: it
//! validates only what it reads back from its own storage format, which is too late.

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};

use automerge::legacy::{ElementId, Key, ObjectId, Op, OpId, OpType};
use automerge::{ActorId, AutoCommit, Automerge, Change, ChangeHash, LoadOptions, OnPartialLoad};
use automerge::{Cursor, ObjId as ExId, ObjType, Prop, ReadDoc};

use crate::Error;

/// The highest op counter a change may use. automerge's API counts ops in u64 but keeps them in 32
/// bits inside; documents made by people stay many orders of magnitude below this.
pub const MAX_OP_COUNTER: u64 = 1 << 31;

/// What the document knows of one actor.
#[derive(Default)]
struct ActorHistory {
    seq: u64,
    max_op: u64,
}

/// What the checks need of the document's history: each actor's last seq and op, and each change's
/// last op. Read once per call and kept up to date as changes are applied: asking automerge for a
/// change's metadata by hash costs it a lookup through its change graph each time.
#[derive(Default)]
struct History {
    actors: HashMap<ActorId, ActorHistory>,
    max_ops: HashMap<ChangeHash, u64>,
}

impl History {
    fn of(doc: &Automerge) -> History {
        let mut history = History::default();
        for meta in doc.get_changes_meta(&[]) {
            history.max_ops.insert(meta.hash, meta.max_op);
            let actor = history.actors.entry(meta.actor.into_owned()).or_default();
            actor.seq = actor.seq.max(meta.seq);
            actor.max_op = actor.max_op.max(meta.max_op);
        }
        history
    }
}

/// The most [`apply`] allocates at its peak for `changes`, decoded ops and automerge's work
/// together, with room to spare: measured with 0.12, 910 bytes per op for a long text written in
/// one change, 750 for one rewritten whole, and about 1,500 per op for changes of one op each.
/// What stays allocated afterwards is far less. The server budgets its merges with it;
/// `tests/apply_memory.rs` checks it.
pub fn peak_bytes(changes: &[Change]) -> usize {
    changes
        .iter()
        .map(|c| PEAK_PER_CHANGE + PEAK_PER_OP * c.len())
        .sum()
}

const PEAK_PER_OP: usize = 1024;
const PEAK_PER_CHANGE: usize = 1024;

/// Checks each change of `new` (changes the document does not have yet) against the document's
/// history and applies it, in causal order, so that each is checked against exactly the document
/// it will change. Changes whose dependencies are still missing are handed to automerge to wait for
/// them; they are checked when they can be applied, in a later push.
///
/// A run of changes that one actor made one after the other (each depends on the previous one
/// only and starts where it ended) holds the same ops as one change made of all of them, so it is
/// checked as one and applied in one call: automerge 0.12 splices every applied batch into its
/// columns, which costs about as much again as checking each change of a device's edits on its own
/// document.
///
/// Answers the ops of the changes it checked and applied, decoded (what the push inspects next).
///
/// A panic inside automerge (a shape the checks do not know yet) is an [`Error::InvalidChange`] like
/// the rest. On an error `doc` must be dropped, as it may hold some of the changes.
pub fn apply(doc: &mut AutoCommit, new: Vec<Change>) -> Result<Vec<Op>, Error> {
    let mut history = History::of(doc.document());
    let mut applied = Vec::new();
    let mut run: Option<Run> = None;
    let (ordered, waiting) = causal_order(&history.max_ops, new);
    for change in ordered {
        check_header(&mut history, &change)?;
        let continues = run.as_ref().is_some_and(|r| r.continued_by(&change));
        if !continues {
            // The change is checked against the document it depends on: apply the run first.
            if let Some(done) = run.take() {
                apply_caught(doc, done.changes)?;
                applied.extend(done.operations);
            }
        }
        let run = run.get_or_insert_with(|| Run::start(doc.document(), &change));
        // The checks query the document, and automerge asserts on some queries a hostile change
        // leads to (an element of one list looked up in another).
        let doc_now = doc.document();
        let hash = change.hash();
        match catch_unwind(AssertUnwindSafe(|| run.check(doc_now, change))) {
            Ok(checked) => checked?,
            Err(_) => {
                return Err(Error::InvalidChange(format!(
                    "change {hash} cannot be checked"
                )))
            }
        }
    }
    if let Some(done) = run {
        apply_caught(doc, done.changes)?;
        applied.extend(done.operations);
    }
    if !waiting.is_empty() {
        apply_caught(doc, waiting)?;
    }
    Ok(applied)
}

/// `new` ordered so that each change comes after those of its dependencies it holds, and apart,
/// the changes that depend on one neither `known` (the document's changes) nor `new` holds. A push
/// may hold a chain of thousands of one record's changes in any order: this takes one pass over
/// them and their dependencies (Kahn's algorithm), where picking the ready ones round by round
/// takes a pass over the rest for each.
fn causal_order(known: &HashMap<ChangeHash, u64>, new: Vec<Change>) -> (Vec<Change>, Vec<Change>) {
    // What devices send: each change after the one it follows. Seen in one pass, with none of the
    // bookkeeping below, which costs a small push as much as the checks of a change.
    let in_order = new.iter().enumerate().all(|(i, change)| {
        change
            .deps()
            .iter()
            .all(|d| known.contains_key(d) || (i > 0 && new[i - 1].hash() == *d))
    });
    if in_order {
        return (new, Vec::new());
    }
    let mut missing = vec![0usize; new.len()];
    let mut dependents: HashMap<ChangeHash, Vec<usize>> = HashMap::new();
    let mut ready = VecDeque::new();
    for (i, change) in new.iter().enumerate() {
        for dep in change.deps().iter().filter(|d| !known.contains_key(*d)) {
            missing[i] += 1;
            dependents.entry(*dep).or_default().push(i);
        }
        if missing[i] == 0 {
            ready.push_back(i);
        }
    }
    let mut slots: Vec<Option<Change>> = new.into_iter().map(Some).collect();
    let mut ordered = Vec::with_capacity(slots.len());
    while let Some(i) = ready.pop_front() {
        let change = slots[i].take().expect("a change becomes ready once");
        for j in dependents.remove(&change.hash()).unwrap_or_default() {
            missing[j] -= 1;
            if missing[j] == 0 {
                ready.push_back(j);
            }
        }
        ordered.push(change);
    }
    (ordered, slots.into_iter().flatten().collect())
}

/// Changes checked and not applied yet: one actor's, each depending on the one before it only and
/// starting at the op after its last. Their ops are checked as the ops of one change.
struct Run {
    changes: Vec<Change>,
    actor: ActorId,
    operations: Vec<Op>,
    start: u64,
    /// The heads the first change was made on, None if they are the document's current heads.
    at: Option<Vec<ChangeHash>>,
}

impl Run {
    fn start(doc: &Automerge, change: &Change) -> Run {
        Run {
            changes: Vec::new(),
            actor: change.actor_id().clone(),
            operations: Vec::new(),
            start: change.start_op().get(),
            at: at_heads(doc, change),
        }
    }

    fn continued_by(&self, change: &Change) -> bool {
        let Some(last) = self.changes.last() else {
            return false;
        };
        change.actor_id() == last.actor_id()
            && change.deps() == [last.hash()]
            && change.start_op().get() == self.start + self.operations.len() as u64
    }

    /// Checks the ops of `change`, which continues this run, and adds it to the run.
    fn check(&mut self, doc: &Automerge, change: Change) -> Result<(), Error> {
        let expanded = change.decode();
        // automerge reads some encodings in more than one way (an object id with counter 0 is the
        // root): a document saved with such a change rebuilds it differently, with another hash,
        // and does not load. Only the encoding automerge itself writes is accepted.
        if Change::from(expanded.clone()).hash() != change.hash() {
            return Err(invalid(
                &change,
                "is not encoded as automerge encodes it".into(),
            ));
        }
        let first = self.operations.len();
        self.operations.extend(expanded.operations);
        let ops = Ops {
            doc,
            actor: &self.actor,
            operations: &self.operations,
            start: self.start,
            at: self.at.as_deref(),
        };
        for i in first..self.operations.len() {
            ops.check(i)
                .map_err(|what| invalid(&change, format!("{what} (op {})", i - first)))?;
        }
        self.changes.push(change);
        Ok(())
    }
}

fn apply_caught(doc: &mut AutoCommit, changes: Vec<Change>) -> Result<(), Error> {
    match catch_unwind(AssertUnwindSafe(|| doc.apply_changes(changes))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::InvalidChange(format!("changes do not apply: {e}"))),
        Err(_) => Err(Error::InvalidChange(
            "changes do not apply: automerge refused them".into(),
        )),
    }
}

fn invalid(change: &Change, what: String) -> Error {
    Error::InvalidChange(format!("change {} {what}", change.hash()))
}

/// Checks what a change says of itself against the history before it (its seq, its op counters)
/// and records it there. Its dependencies are all in the history.
fn check_header(history: &mut History, change: &Change) -> Result<(), Error> {
    let start = change.start_op().get();
    let end = start
        .checked_add(change.len() as u64)
        .filter(|&end| end <= MAX_OP_COUNTER)
        .ok_or_else(|| invalid(change, format!("uses op counters above {MAX_OP_COUNTER}")))?;
    let actor_id = change.actor_id();
    let (seq, actor_max_op) = history
        .actors
        .get(actor_id)
        .map_or((0, 0), |a| (a.seq, a.max_op));
    if change.seq() != seq + 1 {
        return Err(invalid(
            change,
            format!(
                "has seq {} but its actor's previous change has seq {seq}",
                change.seq()
            ),
        ));
    }
    if start <= actor_max_op {
        return Err(invalid(
            change,
            format!("starts at op {start}, not above its actor's previous ops ({actor_max_op})"),
        ));
    }
    for dep in change.deps() {
        let dep_max = history.max_ops.get(dep).copied().unwrap_or(0);
        if start <= dep_max {
            return Err(invalid(
                change,
                format!("starts at op {start}, not above the ops of its dependency {dep}"),
            ));
        }
    }
    history.max_ops.insert(change.hash(), end - 1);
    let actor = history.actors.entry(actor_id.clone()).or_default();
    actor.seq = change.seq();
    actor.max_op = actor.max_op.max(end - 1);
    Ok(())
}

/// The heads the change was made on, or None if they are the document's current heads (queries at
/// the current heads are much cheaper than at past ones).
fn at_heads(doc: &Automerge, change: &Change) -> Option<Vec<ChangeHash>> {
    let mut deps = change.deps().to_vec();
    deps.sort_unstable();
    let mut heads = doc.get_heads();
    heads.sort_unstable();
    (deps != heads).then_some(deps)
}

/// The ops of one change (or of a run of changes checked as one) and the document they apply to.
struct Ops<'a> {
    doc: &'a Automerge,
    actor: &'a ActorId,
    operations: &'a [Op],
    start: u64,
    at: Option<&'a [ChangeHash]>,
}

impl Ops<'_> {
    /// The index in this change of op `id`, if this change made it before op `i`.
    fn earlier(&self, id: &OpId, i: usize) -> Option<usize> {
        (id.actor() == self.actor)
            .then(|| id.counter().checked_sub(self.start))
            .flatten()
            .map(|n| n as usize)
            .filter(|&n| n < i)
    }

    /// The list element op `n` of this change is about: its own for an insert, its key otherwise.
    fn element_of(&self, n: usize) -> Option<OpId> {
        let op = &self.operations[n];
        if op.insert {
            Some(OpId(self.start + n as u64, self.actor.clone()))
        } else {
            op.key.as_element_id().and_then(|e| e.as_opid().cloned())
        }
    }

    fn check(&self, i: usize) -> Result<(), String> {
        let op = &self.operations[i];
        // Op counters start at 1; automerge reads some ids with counter 0 as the root.
        let elem = match &op.key {
            Key::Seq(ElementId::Id(id)) => Some(id),
            _ => None,
        };
        let ids = op.pred.iter().chain(elem).chain(match &op.obj {
            ObjectId::Id(id) => Some(id),
            ObjectId::Root => None,
        });
        if ids.into_iter().any(|id| id.counter() == 0) {
            return Err("names op 0, which no change makes".into());
        }
        // The object: the root, one this change made earlier, or one the document has.
        let (obj, obj_type) = match &op.obj {
            ObjectId::Root => (ExId::Root, ObjType::Map),
            ObjectId::Id(id) => match self.earlier(id, i) {
                // Made in this change: nothing of the document's is inside it.
                Some(n) => match self.operations[n].action {
                    OpType::Make(t) => return self.check_in_new_object(i, t),
                    _ => return Err("edits an op that is not an object".into()),
                },
                None => self
                    .doc
                    .import(&format!("{}@{}", id.counter(), id.actor()))
                    .map_err(|_| "edits an object the document does not have".to_string())?,
            },
        };
        self.check_in(i, &obj, obj_type)
    }

    /// Checks op `i`, on an object the document has.
    fn check_in(&self, i: usize, obj: &ExId, obj_type: ObjType) -> Result<(), String> {
        let op = &self.operations[i];
        let prop = match (&op.key, obj_type) {
            (Key::Map(key), ObjType::Map | ObjType::Table) => {
                if op.insert {
                    return Err("inserts into a map".into());
                }
                if op.pred.is_empty() {
                    return Ok(());
                }
                Prop::Map(key.to_string())
            }
            (Key::Seq(elem), ObjType::List | ObjType::Text) => {
                let elem = match elem {
                    ElementId::Head if op.insert => None,
                    ElementId::Head => return Err("edits the head of a list".into()),
                    ElementId::Id(id) => Some(id),
                };
                let index = match elem {
                    None => None,
                    Some(id) => match self.earlier(id, i) {
                        Some(n) if self.same_element(n, id) && self.operations[n].insert => None,
                        Some(_) => return Err("refers to an element it does not know".into()),
                        None => Some(self.position(obj, id)?),
                    },
                };
                if op.insert {
                    return if op.pred.is_empty() {
                        Ok(())
                    } else {
                        Err("overwrites ops with an insert".into())
                    };
                }
                match index {
                    Some(index) => Prop::Seq(index),
                    // An element this change inserted: only its own ops can be overwritten.
                    None => return self.preds_in_change(i),
                }
            }
            _ => return Err("uses a key of the wrong kind for its object".into()),
        };
        if op.pred.is_empty() {
            // A first value at its key overwrites nothing: there is nothing to look up.
            return Ok(());
        }
        // What the document shows at the key, looked up only for a pred made before this change
        // (a device's later edits of a field it set in the same run name ops of the run).
        let mut visible: Option<Vec<ExId>> = None;
        for pred in op.pred.iter() {
            let ok = match self.earlier(pred, i) {
                Some(n) => self.same_target(n, i),
                None => {
                    let visible = match visible.as_mut() {
                        Some(visible) => visible,
                        None => visible.insert(self.visible(obj, prop.clone())?),
                    };
                    visible.iter().any(
                        |v| matches!(v, ExId::Id(c, a, _) if *c == pred.counter() && a == pred.actor()),
                    )
                }
            };
            if !ok {
                return Err("overwrites an op that is not the value it replaces".into());
            }
        }
        Ok(())
    }

    /// The ops the document shows at `prop` of `obj`, at the heads the ops were made on.
    fn visible(&self, obj: &ExId, prop: Prop) -> Result<Vec<ExId>, String> {
        Ok(match self.at {
            None => self.doc.get_all(obj, prop),
            Some(heads) => self.doc.get_all_at(obj, prop, heads),
        }
        .map_err(|e| format!("cannot be checked: {e}"))?
        .into_iter()
        .map(|(_, id)| id)
        .collect())
    }

    /// Op `i` is on an object this change made: everything it names is in this change too.
    fn check_in_new_object(&self, i: usize, obj_type: ObjType) -> Result<(), String> {
        let op = &self.operations[i];
        match (&op.key, obj_type) {
            (Key::Map(_), ObjType::Map | ObjType::Table) if !op.insert => {}
            (Key::Seq(ElementId::Head), ObjType::List | ObjType::Text) if op.insert => {}
            (Key::Seq(ElementId::Id(id)), ObjType::List | ObjType::Text) => {
                let known = self
                    .earlier(id, i)
                    .is_some_and(|n| self.operations[n].insert && self.same_obj(n, i));
                if !known {
                    return Err("refers to an element it does not know".into());
                }
            }
            _ => return Err("uses a key of the wrong kind for its object".into()),
        }
        if op.insert && !op.pred.is_empty() {
            return Err("overwrites ops with an insert".into());
        }
        self.preds_in_change(i)
    }

    /// Every pred of op `i` is an earlier op of this change on the same object and key.
    fn preds_in_change(&self, i: usize) -> Result<(), String> {
        let op = &self.operations[i];
        for pred in op.pred.iter() {
            let ok = self
                .earlier(pred, i)
                .is_some_and(|n| self.same_target(n, i));
            if !ok {
                return Err("overwrites an op that is not the value it replaces".into());
            }
        }
        Ok(())
    }

    fn same_obj(&self, a: usize, b: usize) -> bool {
        self.operations[a].obj == self.operations[b].obj
    }

    fn same_element(&self, n: usize, id: &OpId) -> bool {
        self.element_of(n).as_ref() == Some(id)
    }

    /// Whether ops `a` and `b` of this change set the same map key or list element of one object.
    fn same_target(&self, a: usize, b: usize) -> bool {
        let (op_a, op_b) = (&self.operations[a], &self.operations[b]);
        self.same_obj(a, b)
            && match (&op_a.key, &op_b.key) {
                (Key::Map(x), Key::Map(y)) => x == y,
                _ => self.element_of(a).is_some() && self.element_of(a) == self.element_of(b),
            }
    }

    /// The index of element `id` in list `obj`, which must hold it.
    fn position(&self, obj: &ExId, id: &OpId) -> Result<usize, String> {
        let cursor = Cursor::try_from(format!("{}@{}", id.counter(), id.actor()).as_str())
            .map_err(|_| "refers to an element it does not know".to_string())?;
        self.doc
            .get_cursor_position(obj, &cursor, self.at)
            .map_err(|_| "refers to an element it does not know".to_string())
    }
}

/// Proves that `saved`, a whole document as automerge saved it, loads back with `heads`: the
/// last line of defence before a snapshot replaces a document's stored chunks. Answers the loaded
/// document, which is compact in memory where one that just had changes applied is not.
pub fn reloads(saved: &[u8], heads: &[ChangeHash]) -> Result<AutoCommit, Error> {
    let sorted = |mut heads: Vec<ChangeHash>| {
        heads.sort_unstable();
        heads
    };
    match catch_unwind(|| AutoCommit::load(saved)) {
        Ok(Ok(mut loaded)) => {
            if sorted(loaded.get_heads()) == sorted(heads.to_vec()) {
                Ok(loaded)
            } else {
                Err(Error::InvalidChange(
                    "the merged record saves with other heads than it has".into(),
                ))
            }
        }
        Ok(Err(e)) => Err(Error::InvalidChange(format!(
            "the merged record would not load back: {e}"
        ))),
        Err(_) => Err(Error::InvalidChange(
            "the merged record would not load back".into(),
        )),
    }
}

/// Loads a document from stored chunks (a snapshot, changes), in order. Unlike automerge's
/// `load_incremental`, which leaves out a chunk it cannot read with only a log line, a chunk that
/// does not load is an error, and so is a panic inside automerge.
pub fn load_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Result<AutoCommit, String> {
    let all: Vec<u8> = chunks.into_iter().flatten().copied().collect();
    let options = LoadOptions::new().on_partial_load(OnPartialLoad::Error);
    match catch_unwind(AssertUnwindSafe(|| {
        AutoCommit::load_with_options(&all, options)
    })) {
        Ok(Ok(doc)) => Ok(doc),
        Ok(Err(e)) => Err(format!("does not load: {e}")),
        Err(_) => Err("does not load".into()),
    }
}
