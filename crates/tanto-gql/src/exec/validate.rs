//! Static checks before execution: field and argument names, fragments (known, not spread
//! within themselves), leaf/sub-selection shape. Type conditions are lenient (dagql's
//! PossibleFragmentSpreads replacement). The walk keeps its own stack of open selection sets,
//! so it costs no native stack per nesting level.

use std::collections::HashSet;

use async_graphql_value::Name;

use super::super::ast::{Document, Field, Pos, Selection, SetId};
use super::super::request::GqlError;
use super::super::schema::{Schema, TypeDef, TypeKind};

/// The errors of the selection set `set` on `root`.
pub(super) fn validate(schema: &Schema, doc: &Document, root: &TypeDef, set: SetId) -> Vec<GqlError> {
    let mut v = Validator { schema, doc, errors: Vec::new() };
    v.walk(root, set);
    v.errors
}

struct Validator<'a> {
    schema: &'a Schema,
    doc: &'a Document,
    errors: Vec<GqlError>,
}

/// An open selection set: its type, what is left of it, and the fragment it expands (if any).
struct Frame<'a> {
    parent: &'a TypeDef,
    items: std::slice::Iter<'a, Selection>,
    fragment: Option<&'a str>,
}

impl<'a> Validator<'a> {
    fn error(&mut self, message: String, pos: Pos) {
        self.errors.push(GqlError::at(message, pos));
    }

    fn walk(&mut self, root: &'a TypeDef, set: SetId) {
        let doc = self.doc;
        // Each fragment is checked once, against its own type condition; `expanding` holds the
        // fragments open on the current path, to find cycles.
        let mut done: HashSet<&str> = HashSet::new();
        let mut expanding: HashSet<&str> = HashSet::new();
        let mut frames = vec![Frame { parent: root, items: doc.set(set).iter(), fragment: None }];
        while let Some(frame) = frames.last_mut() {
            let Some(sel) = frame.items.next() else {
                if let Some(name) = frame.fragment {
                    expanding.remove(name);
                }
                frames.pop();
                continue;
            };
            let parent = frame.parent;
            match sel {
                Selection::Field(f) => {
                    if let Some(t) = self.field(parent, f) {
                        frames.push(Frame { parent: t, items: doc.set(f.set).iter(), fragment: None });
                    }
                }
                Selection::Spread(s) => {
                    let name = s.name.as_str();
                    let Some(frag) = doc.fragments.get(&s.name) else {
                        self.error(format!("Unknown fragment \"{name}\"."), s.pos);
                        continue;
                    };
                    if expanding.contains(name) {
                        self.error(format!("Cannot spread fragment \"{name}\" within itself."), s.pos);
                        continue;
                    }
                    if !done.insert(name) {
                        continue;
                    }
                    if let Some(t) = self.condition(&frag.on, frag.on_pos) {
                        expanding.insert(name);
                        frames.push(Frame { parent: t, items: doc.set(frag.set).iter(), fragment: Some(name) });
                    }
                }
                Selection::Inline(i) => {
                    let t = match &i.on {
                        None => Some(parent),
                        Some((on, pos)) => self.condition(on, *pos),
                    };
                    if let Some(t) = t {
                        frames.push(Frame { parent: t, items: doc.set(i.set).iter(), fragment: None });
                    }
                }
            }
        }
    }

    fn condition(&mut self, on: &Name, pos: Pos) -> Option<&'a TypeDef> {
        match self.schema.get_type(on.as_str()) {
            Some(t) if t.kind.is_composite() => Some(t),
            Some(_) => {
                self.error(format!("Fragment cannot condition on non composite type \"{on}\"."), pos);
                None
            }
            None => {
                self.error(format!("Unknown type \"{on}\"."), pos);
                None
            }
        }
    }

    /// Checks one field; returns the type its sub-selection is to be checked against.
    fn field(&mut self, parent: &'a TypeDef, f: &'a Field) -> Option<&'a TypeDef> {
        let name = f.name.as_str();
        let sub = self.doc.set(f.set);
        if name == "__typename" {
            if !sub.is_empty() {
                self.error(
                    "Field \"__typename\" must not have a selection since type \"String!\" has no subfields.".into(),
                    f.pos,
                );
            }
            return None;
        }
        let def = if (name == "__schema" || name == "__type") && &*parent.name == self.schema.query_type() {
            self.schema.meta_field(name)
        } else {
            parent.fields.get(name)
        };
        let Some(def) = def else {
            self.error(format!("Cannot query field \"{name}\" on type \"{}\".", parent.name), f.pos);
            return None;
        };
        for arg in &f.arguments {
            if !def.args.contains_key(arg.name.as_str()) {
                self.error(format!("Unknown argument \"{}\" on field \"{}.{name}\".", arg.name, parent.name), arg.pos);
            }
        }
        let t = self.schema.get_type(def.ty.name())?;
        if t.kind.is_leaf() {
            if !sub.is_empty() {
                self.error(
                    format!("Field \"{name}\" must not have a selection since type \"{}\" has no subfields.", def.ty),
                    f.pos,
                );
            }
            None
        } else if sub.is_empty() {
            // Lenient ScalarLeafs: allowed when the object can answer with its `id`.
            if !t.fields.contains_key("id") && t.kind != TypeKind::Union {
                self.error(
                    format!(
                        "Field \"{name}\" of type \"{}\" must have a selection of subfields. Did you mean \"{name} {{ ... }}\"?",
                        def.ty
                    ),
                    f.pos,
                );
            }
            None
        } else {
            Some(t)
        }
    }
}
