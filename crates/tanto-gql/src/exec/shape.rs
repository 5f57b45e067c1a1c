//! Response shaping: executed nodes into the `data` value, children before parents.
//!
//! A node is always created after its parent, so walking the nodes from last to first sees
//! every child before its parent: the response is built bottom-up in one pass, with no
//! recursion however deep it nests. A failed position is `null` at the nearest nullable
//! position above it (spec §6.4.4); a failure that reaches the root makes `data` null. What a failure discards is dropped
//! without recursion too.

use serde_json::{Map, Value as Json};

use super::super::json::drop_deep;
use super::run::{Node, NodeId, Seg, State};

/// The `data` value of executed `nodes` (node 0 is the root object).
pub(super) fn data(mut nodes: Vec<Node<'_>>) -> Json {
    // `Err(())`: failed, not yet absorbed by a nullable position.
    let mut done: Vec<Option<Result<Json, ()>>> = Vec::with_capacity(nodes.len());
    done.resize_with(nodes.len(), || None);
    for id in (0..nodes.len()).rev() {
        let state = std::mem::replace(&mut nodes[id].state, State::Failed);
        let inner = match state {
            State::Leaf(v) => Ok(v),
            State::Pending | State::Failed => Err(()),
            State::Object(children) => gather(&mut done, &nodes, children, true),
            State::List(items) => gather(&mut done, &nodes, items, false),
        };
        done[id] = Some(if nodes[id].non_null { inner } else { Ok(inner.unwrap_or(Json::Null)) });
    }
    match done.first_mut().and_then(Option::take) {
        Some(Ok(v)) => v,
        _ => Json::Null,
    }
}

/// The values of `ids`, taken out of `done`, as an object (keyed by their segments) or a list;
/// `Err` when one of them failed (what was gathered is then dropped without recursion).
fn gather(
    done: &mut [Option<Result<Json, ()>>],
    nodes: &[Node<'_>],
    ids: Vec<NodeId>,
    object: bool,
) -> Result<Json, ()> {
    let (mut map, mut list) =
        if object { (Map::with_capacity(ids.len()), Vec::new()) } else { (Map::new(), Vec::with_capacity(ids.len())) };
    let mut failed = false;
    for c in ids {
        match (done[c].take(), &nodes[c].seg) {
            (Some(Ok(v)), Seg::Key(k)) if object => {
                map.insert((*k).to_string(), v);
            }
            (Some(Ok(v)), _) if !object => list.push(v),
            _ => failed = true,
        }
    }
    let v = if object { Json::Object(map) } else { Json::Array(list) };
    if failed {
        drop_deep(v);
        Err(())
    } else {
        Ok(v)
    }
}
