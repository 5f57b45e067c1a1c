//! How big one request may get. Each limit is checked where the thing is counted (the parser,
//! coercion, execution) and refused with an error naming the limit, so that a hostile or broken
//! client costs memory proportional to its request and never takes the server down.

/// Deepest nesting of selection sets in a query: a fluent chain of N calls nests N + 2 deep
/// (`{container{from(...){withEnvVariable(...){ ... {id}}}}}`). Nothing recurses per level,
/// so this bounds time and memory, not the stack.
pub const MAX_DEPTH: usize = 20_000;

/// Selections (fields, aliases included, and fragment spreads) in one document.
pub const MAX_SELECTIONS: usize = 100_000;

/// Items of one list, as a literal in the query or as a variable's value.
pub const MAX_LIST_ITEMS: usize = 100_000;

/// Nesting of list and input-object values (and of list types) in a query.
pub const MAX_VALUE_DEPTH: usize = 64;

/// Positions in one response (fields resolved, list items completed): what fragments spread
/// over lists or introspection of a cyclic type graph can multiply.
pub const MAX_RESPONSE_POSITIONS: usize = 250_000;
