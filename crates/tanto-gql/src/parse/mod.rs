//! The query parser: an executable document (spec §2) into a [`Document`].
//!
//! Selection sets are parsed with an explicit stack, never by recursion, so a fluent chain of
//! thousands of calls needs no more native stack than `{ version }`; only values and list types
//! recurse, and they are capped at [`MAX_VALUE_DEPTH`]. Every size a hostile query could inflate
//! is checked against [`crate::limits`] while parsing, before anything is allocated for it.

mod lexer;

use std::collections::hash_map::Entry;

use async_graphql_value::indexmap::IndexMap;
use async_graphql_value::{Name, Number, Value};

use self::lexer::{Lexer, Tok, Token};
use super::ast::*;
use super::limits::{MAX_DEPTH, MAX_LIST_ITEMS, MAX_SELECTIONS, MAX_VALUE_DEPTH};
use super::schema::TypeRef;

/// Why a query cannot be parsed: a syntax error or an exceeded limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub message: String,
    pub pos: Pos,
}

/// Parses an executable document.
pub(crate) fn parse_query(src: &str) -> Result<Document, ParseError> {
    let mut lexer = Lexer::new(src);
    let tok = lexer.next_token().map_err(syntax)?;
    let mut p = Parser { lexer, tok, doc: Document::new(), selections: 0 };
    p.document()?;
    Ok(p.doc)
}

fn syntax((message, pos): (String, Pos)) -> ParseError {
    ParseError { message: format!("syntax error: {message} ({pos})"), pos }
}

struct Parser<'s> {
    lexer: Lexer<'s>,
    /// The lookahead token.
    tok: Token<'s>,
    doc: Document,
    selections: usize,
}

type PResult<T> = Result<T, ParseError>;

impl<'s> Parser<'s> {
    fn bump(&mut self) -> PResult<Token<'s>> {
        let next = self.lexer.next_token().map_err(syntax)?;
        Ok(std::mem::replace(&mut self.tok, next))
    }

    fn error<T>(&self, expected: &str) -> PResult<T> {
        Err(syntax((format!("expected {expected}, found {}", self.tok.tok.describe()), self.tok.pos)))
    }

    fn limit<T>(&self, message: String, pos: Pos) -> PResult<T> {
        Err(ParseError { message: format!("{message} ({pos})"), pos })
    }

    fn is(&self, c: u8) -> bool {
        self.tok.tok == Tok::Punct(c)
    }

    fn eat(&mut self, c: u8) -> PResult<bool> {
        if self.is(c) {
            self.bump()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect(&mut self, c: u8) -> PResult<Pos> {
        if !self.is(c) {
            return self.error(&format!("`{}`", c as char));
        }
        Ok(self.bump()?.pos)
    }

    fn name(&mut self) -> PResult<(Name, Pos)> {
        match self.tok.tok {
            Tok::Name(n) => {
                let pos = self.tok.pos;
                self.bump()?;
                Ok((Name::new(n), pos))
            }
            _ => self.error("a name"),
        }
    }

    fn document(&mut self) -> PResult<()> {
        let mut anonymous: Option<Pos> = None;
        loop {
            let pos = self.tok.pos;
            let ty = match self.tok.tok {
                Tok::Eof if !self.doc.operations.is_empty() || !self.doc.fragments.is_empty() => return Ok(()),
                Tok::Punct(b'{') => None,
                Tok::Name("query") => Some(OperationType::Query),
                Tok::Name("mutation") => Some(OperationType::Mutation),
                Tok::Name("subscription") => Some(OperationType::Subscription),
                Tok::Name("fragment") => {
                    self.bump()?;
                    self.fragment()?;
                    continue;
                }
                _ => return self.error("an operation or a fragment"),
            };
            let (name, variables) = match ty {
                None => (None, Vec::new()),
                Some(_) => {
                    self.bump()?;
                    let name = match self.tok.tok {
                        Tok::Name(_) => Some(self.name()?.0),
                        _ => None,
                    };
                    let variables = self.variable_definitions()?;
                    self.directives()?;
                    (name, variables)
                }
            };
            let set = self.selection_set()?;
            let anonymous_before = anonymous.is_some();
            match &name {
                None => anonymous = anonymous.or(Some(pos)),
                Some(n) if self.doc.operations.iter().any(|o| o.name.as_ref() == Some(n)) => {
                    return Err(syntax((format!("operation `{n}` is defined more than once"), pos)));
                }
                Some(_) => {}
            }
            if (name.is_none() && !self.doc.operations.is_empty()) || anonymous_before {
                let at = anonymous.unwrap_or(pos);
                return Err(syntax(("an anonymous operation must be the only operation in the document".into(), at)));
            }
            let ty = ty.unwrap_or(OperationType::Query);
            self.doc.operations.push(Operation { pos, ty, name, variables, set });
        }
    }

    fn fragment(&mut self) -> PResult<()> {
        let (name, pos) = self.name()?;
        if name.as_str() == "on" {
            return Err(syntax(("a fragment cannot be named `on`".into(), pos)));
        }
        match self.tok.tok {
            Tok::Name("on") => self.bump()?,
            _ => return self.error("`on`"),
        };
        let (on, on_pos) = self.name()?;
        self.directives()?;
        let set = self.selection_set()?;
        match self.doc.fragments.entry(name) {
            Entry::Occupied(e) => Err(syntax((format!("fragment `{}` is defined more than once", e.key()), pos))),
            Entry::Vacant(e) => {
                e.insert(Fragment { on, on_pos, set });
                Ok(())
            }
        }
    }

    fn variable_definitions(&mut self) -> PResult<Vec<VariableDef>> {
        let mut out = Vec::new();
        if !self.eat(b'(')? {
            return Ok(out);
        }
        while !self.eat(b')')? {
            let pos = self.expect(b'$')?;
            let (name, _) = self.name()?;
            self.expect(b':')?;
            let ty = self.type_ref(0)?;
            // The spec puts the default first; async-graphql-parser took directives first.
            self.directives()?;
            let default = if self.eat(b'=')? { Some(self.value(true, 0)?) } else { None };
            self.directives()?;
            out.push(VariableDef { pos, name, ty, default });
        }
        Ok(out)
    }

    fn type_ref(&mut self, depth: usize) -> PResult<TypeRef> {
        let base = if self.is(b'[') {
            if depth >= MAX_VALUE_DEPTH {
                return self
                    .limit(format!("a type in the query nests lists more than {MAX_VALUE_DEPTH} deep"), self.tok.pos);
            }
            self.bump()?;
            let inner = self.type_ref(depth + 1)?;
            self.expect(b']')?;
            TypeRef::List(Box::new(inner))
        } else {
            TypeRef::Named(self.name()?.0.as_str().into())
        };
        Ok(if self.eat(b'!')? { TypeRef::NonNull(Box::new(base)) } else { base })
    }

    fn directives(&mut self) -> PResult<Vec<Directive>> {
        let mut out = Vec::new();
        while self.eat(b'@')? {
            let (name, _) = self.name()?;
            let arguments = self.arguments()?;
            out.push(Directive { name, arguments });
        }
        Ok(out)
    }

    fn arguments(&mut self) -> PResult<Vec<Argument>> {
        let mut out = Vec::new();
        if !self.eat(b'(')? {
            return Ok(out);
        }
        loop {
            let (name, pos) = self.name()?;
            self.expect(b':')?;
            let value = self.value(false, 0)?;
            out.push(Argument { pos, name, value });
            if self.eat(b')')? {
                return Ok(out);
            }
        }
    }

    /// A value; `constant` refuses variables (defaults). Recursion is capped at
    /// [`MAX_VALUE_DEPTH`].
    fn value(&mut self, constant: bool, depth: usize) -> PResult<Value> {
        let pos = self.tok.pos;
        let nested = matches!(self.tok.tok, Tok::Punct(b'[' | b'{'));
        if nested && depth >= MAX_VALUE_DEPTH {
            return self.limit(
                format!("a value in the query nests lists or objects more than {MAX_VALUE_DEPTH} deep, tanto's limit"),
                pos,
            );
        }
        let tok = self.bump()?;
        Ok(match tok.tok {
            Tok::Punct(b'$') if !constant => Value::Variable(self.name()?.0),
            Tok::Punct(b'$') => return Err(syntax(("a default value cannot use a variable".into(), pos))),
            Tok::Int(text) | Tok::Float(text) => match text.parse::<Number>() {
                Ok(n) => Value::Number(n),
                Err(_) => return Err(syntax(("invalid number".into(), pos))),
            },
            Tok::Str(s) => Value::String(s),
            Tok::Name("true") => Value::Boolean(true),
            Tok::Name("false") => Value::Boolean(false),
            Tok::Name("null") => Value::Null,
            Tok::Name(n) => Value::Enum(Name::new(n)),
            Tok::Punct(b'[') => {
                let mut items = Vec::new();
                while !self.eat(b']')? {
                    if items.len() == MAX_LIST_ITEMS {
                        return self.limit(
                            format!("a list in the query has more than {MAX_LIST_ITEMS} items, tanto's limit"),
                            pos,
                        );
                    }
                    items.push(self.value(constant, depth + 1)?);
                }
                Value::List(items)
            }
            Tok::Punct(b'{') => {
                let mut fields = IndexMap::new();
                while !self.eat(b'}')? {
                    if fields.len() == MAX_LIST_ITEMS {
                        return self.limit(
                            format!("an object in the query has more than {MAX_LIST_ITEMS} fields, tanto's limit"),
                            pos,
                        );
                    }
                    let (name, _) = self.name()?;
                    self.expect(b':')?;
                    fields.insert(name, self.value(constant, depth + 1)?);
                }
                Value::Object(fields)
            }
            other => {
                self.tok = Token { tok: other, pos };
                return self.error("a value");
            }
        })
    }

    fn count_selection(&mut self, pos: Pos) -> PResult<()> {
        self.selections += 1;
        if self.selections > MAX_SELECTIONS {
            return self.limit(
                format!(
                    "the query has more than {MAX_SELECTIONS} selections (fields and fragment spreads), tanto's \
                     limit: split it into several requests"
                ),
                pos,
            );
        }
        Ok(())
    }

    /// Opens a selection set at nesting `depth` (the current token is its `{`).
    fn open_set(&mut self, depth: usize) -> PResult<SetId> {
        if depth > MAX_DEPTH && self.is(b'{') {
            let pos = self.tok.pos;
            let depth = self.deepest(depth);
            return self.limit(format!("query nesting depth {depth} exceeds tanto's limit of {MAX_DEPTH}"), pos);
        }
        self.expect(b'{')?;
        self.doc.depth = self.doc.depth.max(depth);
        Ok(self.doc.new_set())
    }

    /// How deep the text nests from here (the lookahead `{`, at `depth`): braces counted by the
    /// lexer alone, to report the real depth of a query over the limit.
    fn deepest(&mut self, mut depth: usize) -> usize {
        let mut max = depth;
        while let Ok(t) = self.lexer.next_token() {
            match t.tok {
                Tok::Punct(b'{') => {
                    depth += 1;
                    max = max.max(depth);
                }
                Tok::Punct(b'}') => depth = depth.saturating_sub(1),
                Tok::Eof => break,
                _ => {}
            }
        }
        max
    }

    /// A selection set and everything nested in it, with an explicit stack of open sets.
    fn selection_set(&mut self) -> PResult<SetId> {
        let root = self.open_set(1)?;
        let mut open = vec![root];
        while let Some(&set) = open.last() {
            let pos = self.tok.pos;
            match self.tok.tok {
                Tok::Punct(b'}') => {
                    if self.doc.set(set).is_empty() {
                        return self.error("a selection");
                    }
                    self.bump()?;
                    open.pop();
                }
                Tok::Spread => {
                    self.count_selection(pos)?;
                    self.bump()?;
                    let on = match self.tok.tok {
                        Tok::Name("on") => {
                            self.bump()?;
                            Some(self.name()?)
                        }
                        Tok::Name(_) => {
                            let (name, _) = self.name()?;
                            let directives = self.directives()?;
                            self.doc.push(set, Selection::Spread(Spread { pos, name, directives }));
                            continue;
                        }
                        _ => None,
                    };
                    let directives = self.directives()?;
                    let child = self.open_set(open.len() + 1)?;
                    self.doc.push(set, Selection::Inline(Inline { on, directives, set: child }));
                    open.push(child);
                }
                Tok::Name(_) => {
                    self.count_selection(pos)?;
                    let (first, _) = self.name()?;
                    let (alias, name) = if self.eat(b':')? { (Some(first), self.name()?.0) } else { (None, first) };
                    let arguments = self.arguments()?;
                    let directives = self.directives()?;
                    let child = if self.is(b'{') { Some(self.open_set(open.len() + 1)?) } else { None };
                    let field = Field { pos, alias, name, arguments, directives, set: child.unwrap_or(SetId::EMPTY) };
                    self.doc.push(set, Selection::Field(field));
                    open.extend(child);
                }
                _ => return self.error("a selection or `}`"),
            }
        }
        Ok(root)
    }
}

#[cfg(test)]
mod tests;
