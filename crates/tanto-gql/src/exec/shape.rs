//! Response shaping: executed nodes into the `data` value, children before parents.
//!
//! A node is always created after its parent, so walking the nodes from last to first sees
//! every child before its parent: the response is built bottom-up in one pass, with no
//! recursion however deep it nests. A failed position is `null` at the nearest nullable
//! position above it (spec §6.4.4); a failure that reaches the root makes `data` null. What a failure discards is dropped
//! without recursion too.

use serde_json::{Map, Value as Json};

use super::super::json::drop_deep;
use super::run::{Node, Seg, State};

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
            State::Object(children) => {
                let mut map = Map::with_capacity(children.len());
                let mut failed = false;
                for c in children {
                    match (done[c].take(), &nodes[c].seg) {
                        (Some(Ok(v)), Seg::Key(k)) => {
                            map.insert((*k).to_string(), v);
                        }
                        _ => failed = true,
                    }
                }
                let v = Json::Object(map);
                if failed {
                    drop_deep(v);
                    Err(())
                } else {
                    Ok(v)
                }
            }
            State::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut failed = false;
                for c in items {
                    match done[c].take() {
                        Some(Ok(v)) => out.push(v),
                        _ => failed = true,
                    }
                }
                let v = Json::Array(out);
                if failed {
                    drop_deep(v);
                    Err(())
                } else {
                    Ok(v)
                }
            }
        };
        done[id] = Some(if nodes[id].non_null { inner } else { Ok(inner.unwrap_or(Json::Null)) });
    }
    match done.first_mut().and_then(Option::take) {
        Some(Ok(v)) => v,
        _ => Json::Null,
    }
}
