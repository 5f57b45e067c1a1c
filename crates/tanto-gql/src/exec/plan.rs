//! Selection planning: which fields of a selection set apply to an object (CollectFields, spec
//! §6.3.2, with `@skip`/`@include` and fragments), grouped by response key, and each field's
//! arguments coerced against its definition.

use std::collections::HashSet;

use async_graphql_value::Value;
use indexmap::IndexMap;
use serde_json::{Map, Value as Json};

use super::super::ast::{Directive, Document, Field, Selection, SetId};
use super::super::resolver::Resolver;
use super::super::schema::{FieldDef, Schema, TypeDef};
use super::super::value::{Args, Coercer};

/// What every step of one request shares.
pub(super) struct Ctx<'a> {
    pub schema: &'a Schema,
    pub resolver: &'a dyn Resolver,
    pub doc: &'a Document,
    pub vars: Map<String, Json>,
}

/// Fields of one selection set grouped by response key, in order.
pub(super) type Grouped<'a> = IndexMap<&'a str, Vec<&'a Field>>;

impl<'a> Ctx<'a> {
    fn included(&self, directives: &[Directive]) -> bool {
        for d in directives {
            let name = d.name.as_str();
            if name != "skip" && name != "include" {
                continue;
            }
            let cond = d.argument("if").and_then(|v| match v {
                Value::Boolean(b) => Some(*b),
                Value::String(s) => s.parse::<bool>().ok(),
                Value::Variable(n) => match self.vars.get(n.as_str()) {
                    Some(Json::Bool(b)) => Some(*b),
                    Some(Json::String(s)) => s.parse::<bool>().ok(),
                    _ => None,
                },
                _ => None,
            });
            match (name, cond) {
                ("skip", Some(true)) | ("include", Some(false)) => return false,
                _ => {}
            }
        }
        true
    }

    /// CollectFields for an object of type `object_type` over the selection sets `sets` (those of
    /// all the fields merged under one response key), in order. Fragments are expanded in
    /// place with an explicit stack; each named fragment once.
    pub fn collect_fields(&self, object_type: &str, sets: impl DoubleEndedIterator<Item = SetId>) -> Grouped<'a> {
        let doc: &'a Document = self.doc;
        let mut out = Grouped::new();
        let mut visited: HashSet<&'a str> = HashSet::new();
        let mut stack: Vec<std::slice::Iter<'a, Selection>> = sets.rev().map(|s| doc.set(s).iter()).collect();
        while let Some(items) = stack.last_mut() {
            let Some(sel) = items.next() else {
                stack.pop();
                continue;
            };
            match sel {
                Selection::Field(f) => {
                    if self.included(&f.directives) {
                        out.entry(f.response_key()).or_default().push(f);
                    }
                }
                Selection::Spread(s) => {
                    if !self.included(&s.directives) || !visited.insert(s.name.as_str()) {
                        continue;
                    }
                    let Some(frag) = doc.fragments.get(&s.name) else {
                        continue;
                    };
                    if self.schema.type_applies(object_type, frag.on.as_str()) {
                        stack.push(doc.set(frag.set).iter());
                    }
                }
                Selection::Inline(i) => {
                    if !self.included(&i.directives) {
                        continue;
                    }
                    let applies = match &i.on {
                        None => true,
                        Some((on, _)) => self.schema.type_applies(object_type, on.as_str()),
                    };
                    if applies {
                        stack.push(doc.set(i.set).iter());
                    }
                }
            }
        }
        out
    }

    /// The arguments of `field` (of `ty`, defined by `def`) coerced, with defaults applied.
    pub fn coerce_args(&self, ty: &TypeDef, def: &FieldDef, field: &Field) -> Result<Args, String> {
        let mut args = Args::with_capacity(ty.name.clone(), def.name.clone(), def.args.len());
        if let Some(a) = field.arguments.iter().find(|a| !def.args.contains_key(a.name.as_str())) {
            return Err(format!("unknown argument `{}` on field `{}.{}`", a.name, ty.name, def.name));
        }
        let coercer = Coercer::new(self.schema, &self.vars);
        for a in def.args.values() {
            let given = field.arguments.iter().find(|g| g.name.as_str() == &*a.name).map(|g| &g.value);
            // An unset variable is an absent argument.
            let given = match given {
                Some(Value::Variable(v)) if !self.vars.contains_key(v.as_str()) => None,
                g => g,
            };
            let value = match given {
                None => None,
                Some(v) => Some(coercer.coerce(v, a.ty.nullable()).map_err(|e| {
                    format!("invalid value for argument `{}` of `{}.{}`: {e}", a.name, ty.name, def.name)
                })?),
            };
            match value {
                Some(v) if !v.is_null() => args.push(a.name.clone(), v),
                // Absent or null: the default if there is one (Python sends `null` for `None`).
                _ => {
                    if let Some(d) = &a.default_json {
                        args.push(a.name.clone(), d.clone());
                    } else if a.ty.is_non_null() {
                        return Err(format!(
                            "argument `{}` of `{}.{}` is required (type `{}`)",
                            a.name, ty.name, def.name, a.ty
                        ));
                    } else if value.is_some() {
                        args.push(a.name.clone(), Json::Null);
                    }
                }
            }
        }
        Ok(args)
    }
}
