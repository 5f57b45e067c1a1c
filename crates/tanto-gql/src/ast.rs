//! The executable-document model: operations and fragments whose selection sets live in one
//! arena ([`Document::set`]), so that nothing in the tree nests by ownership. A query ten
//! thousand selections deep is a flat vector here: walking it needs no recursion, and dropping
//! it none either.

use std::collections::HashMap;
use std::fmt;

use async_graphql_value::{Name, Value};

use super::schema::TypeRef;

/// A position in the query text: 1-based line and column (columns count chars).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A parsed executable document.
#[derive(Debug, Default)]
pub(crate) struct Document {
    /// In document order; names are unique, and an anonymous operation is the only one.
    pub operations: Vec<Operation>,
    pub fragments: HashMap<Name, Fragment>,
    /// The deepest nesting of selection sets in the text (1 for `{ a }`).
    pub depth: usize,
    /// Selection sets by [`SetId`]; index 0 is the empty set of leaf fields.
    sets: Vec<Vec<Selection>>,
}

/// A selection set, an index into [`Document`]'s arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SetId(u32);

impl SetId {
    /// The set of a field without sub-selection.
    pub const EMPTY: SetId = SetId(0);
}

impl Document {
    pub fn new() -> Document {
        Document { sets: vec![Vec::new()], ..Document::default() }
    }
    /// The selections of set `id`.
    pub fn set(&self, id: SetId) -> &[Selection] {
        self.sets.get(id.0 as usize).map(Vec::as_slice).unwrap_or(&[])
    }
    /// A new, empty selection set.
    pub(crate) fn new_set(&mut self) -> SetId {
        self.sets.push(Vec::new());
        SetId((self.sets.len() - 1) as u32)
    }
    pub(crate) fn push(&mut self, id: SetId, selection: Selection) {
        if let Some(s) = self.sets.get_mut(id.0 as usize) {
            s.push(selection);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OperationType {
    Query,
    Mutation,
    Subscription,
}

#[derive(Debug)]
pub(crate) struct Operation {
    pub pos: Pos,
    pub ty: OperationType,
    pub name: Option<Name>,
    pub variables: Vec<VariableDef>,
    pub set: SetId,
}

#[derive(Debug)]
pub(crate) struct VariableDef {
    /// Where its `$` is.
    pub pos: Pos,
    pub name: Name,
    pub ty: TypeRef,
    pub default: Option<Value>,
}

#[derive(Debug)]
pub(crate) struct Fragment {
    pub on: Name,
    pub on_pos: Pos,
    pub set: SetId,
}

#[derive(Debug)]
pub(crate) enum Selection {
    Field(Field),
    /// `...Name`
    Spread(Spread),
    /// `... on Type { }` or `... { }`
    Inline(Inline),
}

#[derive(Debug)]
pub(crate) struct Field {
    /// Where the field starts (its alias, when it has one).
    pub pos: Pos,
    pub alias: Option<Name>,
    pub name: Name,
    pub arguments: Vec<Argument>,
    pub directives: Vec<Directive>,
    pub set: SetId,
}

impl Field {
    /// The key of this field in the response: its alias, else its name.
    pub fn response_key(&self) -> &str {
        self.alias.as_ref().unwrap_or(&self.name).as_str()
    }
}

#[derive(Debug)]
pub(crate) struct Argument {
    /// Where its name is.
    pub pos: Pos,
    pub name: Name,
    pub value: Value,
}

#[derive(Debug)]
pub(crate) struct Directive {
    pub name: Name,
    pub arguments: Vec<Argument>,
}

impl Directive {
    pub fn argument(&self, name: &str) -> Option<&Value> {
        self.arguments.iter().find(|a| a.name.as_str() == name).map(|a| &a.value)
    }
}

#[derive(Debug)]
pub(crate) struct Spread {
    /// Where its `...` is.
    pub pos: Pos,
    pub name: Name,
    pub directives: Vec<Directive>,
}

#[derive(Debug)]
pub(crate) struct Inline {
    /// The type condition's name and where it is.
    pub on: Option<(Name, Pos)>,
    pub directives: Vec<Directive>,
    pub set: SetId,
}
