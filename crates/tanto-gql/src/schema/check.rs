//! The checks that make a parsed SDL a schema: every reference resolves to a type of the right
//! kind; then what is derived once: possible types of interfaces, ID scalars, coerced defaults.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql_value::ConstValue;

use super::super::value::Coercer;
use super::*;

impl Schema {
    /// Checks references, computes possible types, ID scalars and coerced defaults.
    pub(super) fn finish(&mut self) -> Result<(), SchemaError> {
        match self.types.get(&*self.query_type) {
            Some(t) if t.kind == TypeKind::Object => {}
            _ => return Err(SchemaError::MissingQueryType(self.query_type.to_string())),
        }
        if let Some(m) = &self.mutation_type {
            if self.types.get(&**m).map(|t| t.kind) != Some(TypeKind::Object) {
                return Err(SchemaError::UnknownType { name: m.to_string(), by: "schema".into() });
            }
        }

        // References.
        for t in self.types.values() {
            for i in &t.interfaces {
                match self.types.get(&**i) {
                    None => return Err(SchemaError::UnknownType { name: i.to_string(), by: t.name.to_string() }),
                    Some(it) if it.kind != TypeKind::Interface => {
                        return Err(SchemaError::NotAnInterface { name: i.to_string(), by: t.name.to_string() })
                    }
                    _ => {}
                }
            }
            if t.kind == TypeKind::Union {
                for m in &t.possible_types {
                    match self.types.get(&**m) {
                        None => return Err(SchemaError::UnknownType { name: m.to_string(), by: t.name.to_string() }),
                        Some(mt) if mt.kind != TypeKind::Object => {
                            return Err(SchemaError::NotAnObject { member: m.to_string(), union: t.name.to_string() })
                        }
                        _ => {}
                    }
                }
            }
            for f in t.fields.values() {
                let by = format!("{}.{}", t.name, f.name);
                match self.types.get(f.ty.name()) {
                    None => return Err(SchemaError::UnknownType { name: f.ty.name().into(), by }),
                    Some(ft) if ft.kind == TypeKind::InputObject => {
                        return Err(SchemaError::NotAnOutputType { ty: f.ty.to_string(), by })
                    }
                    _ => {}
                }
                for a in f.args.values() {
                    self.check_input(a, &format!("{}.{}({}:)", t.name, f.name, a.name))?;
                }
            }
            for a in t.input_fields.values() {
                self.check_input(a, &format!("{}.{}", t.name, a.name))?;
            }
        }
        for d in self.directives.values() {
            for a in d.args.values() {
                self.check_input(a, &format!("@{}({}:)", d.name, a.name))?;
            }
        }

        // Possible types of interfaces, transitively (an object implementing `Syncer` that forgot
        // to list `Node` is still a `Node`).
        let mut possible: HashMap<Arc<str>, Vec<Arc<str>>> = HashMap::new();
        for t in self.types.values().filter(|t| t.kind == TypeKind::Object) {
            let mut seen: Vec<Arc<str>> = Vec::new();
            let mut stack: Vec<Arc<str>> = t.interfaces.clone();
            while let Some(i) = stack.pop() {
                if seen.contains(&i) {
                    continue;
                }
                if let Some(it) = self.types.get(&*i) {
                    stack.extend(it.interfaces.iter().cloned());
                }
                seen.push(i);
            }
            for i in seen {
                possible.entry(i).or_default().push(t.name.clone());
            }
        }
        for t in self.types.values_mut().filter(|t| t.kind == TypeKind::Interface) {
            t.possible_types = possible.remove(&t.name).unwrap_or_default();
        }

        // ID scalars: `ID` and `<T>ID` for every object or interface `T`.
        self.id_scalars = self
            .types
            .values()
            .filter(|t| t.kind == TypeKind::Scalar)
            .filter(|t| {
                &*t.name == "ID"
                    || t.name.strip_suffix("ID").is_some_and(|base| {
                        self.types.get(base).is_some_and(|bt| matches!(bt.kind, TypeKind::Object | TypeKind::Interface))
                    })
            })
            .map(|t| t.name.clone())
            .collect();

        // Coerced defaults.
        let mut defaults: Vec<(usize, usize, usize, serde_json::Value)> = Vec::new();
        let mut input_defaults: Vec<(usize, usize, serde_json::Value)> = Vec::new();
        let mut directive_defaults: Vec<(usize, usize, serde_json::Value)> = Vec::new();
        {
            let empty = serde_json::Map::new();
            let coercer = Coercer::new(self, &empty);
            let coerce = |a: &InputValueDef, by: String| -> Result<Option<serde_json::Value>, SchemaError> {
                match &a.default_value {
                    None => Ok(None),
                    Some(v) => coercer
                        .coerce(v, &a.ty)
                        .map(Some)
                        .map_err(|e| SchemaError::InvalidDefault { by, message: e.to_string() }),
                }
            };
            for (ti, t) in self.types.values().enumerate() {
                for (fi, f) in t.fields.values().enumerate() {
                    for (ai, a) in f.args.values().enumerate() {
                        if let Some(v) = coerce(a, format!("{}.{}({}:)", t.name, f.name, a.name))? {
                            defaults.push((ti, fi, ai, v));
                        }
                    }
                }
                for (ai, a) in t.input_fields.values().enumerate() {
                    if let Some(v) = coerce(a, format!("{}.{}", t.name, a.name))? {
                        input_defaults.push((ti, ai, v));
                    }
                }
            }
            for (di, d) in self.directives.values().enumerate() {
                for (ai, a) in d.args.values().enumerate() {
                    if let Some(v) = coerce(a, format!("@{}({}:)", d.name, a.name))? {
                        directive_defaults.push((di, ai, v));
                    }
                }
            }
        }
        for (ti, fi, ai, v) in defaults {
            if let Some(a) = self.types[ti].fields[fi].args.get_index_mut(ai) {
                a.1.default_json = Some(v);
            }
        }
        for (ti, ai, v) in input_defaults {
            if let Some(a) = self.types[ti].input_fields.get_index_mut(ai) {
                a.1.default_json = Some(v);
            }
        }
        for (di, ai, v) in directive_defaults {
            if let Some(a) = self.directives[di].args.get_index_mut(ai) {
                a.1.default_json = Some(v);
            }
        }
        for f in self.meta_fields.values_mut() {
            for a in f.args.values_mut() {
                if let Some(ConstValue::Boolean(b)) = &a.default_value {
                    a.default_json = Some(serde_json::Value::Bool(*b));
                }
            }
        }
        Ok(())
    }

    fn check_input(&self, a: &InputValueDef, by: &str) -> Result<(), SchemaError> {
        match self.types.get(a.ty.name()) {
            None => Err(SchemaError::UnknownType { name: a.ty.name().into(), by: by.into() }),
            Some(t) if !t.kind.is_input() => Err(SchemaError::NotAnInputType { ty: a.ty.to_string(), by: by.into() }),
            _ => Ok(()),
        }
    }
}
