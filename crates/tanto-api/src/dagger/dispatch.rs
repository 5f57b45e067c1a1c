//! Field dispatch: one [`Table`] per object type, field name → handler.
//!
//! A type's fields are listed in static slices next to the code that serves
//! them (a type may take its fields from several files: `parts`), plus
//! field families such as `Env.with<T>Input` (prefix, suffix). The name →
//! handler index is built once, on first use. A field no table lists fails
//! with `not implemented yet: Type.field`, and the coverage report
//! (`super::coverage`) reads the same tables, so it cannot drift from what
//! is served. Adding a type is an `Object` variant, a [`table!`] and a line
//! in `super::TABLES`, e.g.
//!
//! ```ignore
//! table!(pub(super) MODULE_SOURCE: ModuleSourceObj = "ModuleSource",
//!        Object::ModuleSource(m) => m, &[MODULE_SOURCE_FIELDS], &[]);
//! static MODULE_SOURCE_FIELDS: Fields<ModuleSourceObj> = fields! { |api, m, call, a|
//!     "kind" => Ok(leaf(m.kind.wire())),
//!     "withSourceSubpath" => { ... },
//! };
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{LazyLock, OnceLock};

use tanto_gql::{FieldCall, Resolved};

use super::{Api, ApiError, ApiResult, Object};

/// What a handler returns: the field's value, later.
pub(crate) type Fut<'a> = Pin<Box<dyn Future<Output = ApiResult<Resolved>> + Send + 'a>>;

/// One field of objects of type `T`: `(api, object, call)`.
pub(crate) type Handler<T> = for<'a> fn(&'a Api, &'a T, &'a FieldCall<'a>) -> Fut<'a>;

/// A slice of a type's fields: `(name, handler)`.
pub(crate) type Fields<T> = &'static [(&'static str, Handler<T>)];

/// Fields named `<prefix><T><suffix>` for any non-empty `T`, served by one handler.
pub(crate) type Families<T> = &'static [(&'static str, &'static str, Handler<T>)];

pub(crate) fn boxed<'a>(f: impl Future<Output = ApiResult<Resolved>> + Send + 'a) -> Fut<'a> {
    Box::pin(f)
}

/// A table entry list: `|api, object, call, args| let x = e; ... "name" | "alias" => body, ...`.
/// Each handler binds `api`, the object, the call and `args` (`call.args`),
/// then the `let`s (shared set-up, such as a constructor for the result);
/// `body` runs in an `async` block (so it may `.await` and `return`). An arm
/// with several names serves each of them.
macro_rules! fields {
    (|$api:ident, $obj:ident, $call:ident, $a:ident| $(let $p:ident = $e:expr;)* $first:literal $($rest:tt)*) => {
        $crate::dagger::dispatch::fields!(@arms [|$api, $obj, $call, $a| $(let $p = $e;)*] $first $($rest)*)
    };
    (@arms $head:tt $( $($name:literal)|+ => $body:expr ),* $(,)?) => {
        &[ $( $( ($name, $crate::dagger::dispatch::field!($head $body)) ),+ ),* ]
    };
}

/// One handler: `|api, object, call, args| let x = e; ... body` (see [`fields!`]).
macro_rules! field {
    ([|$api:ident, $obj:ident, $call:ident, $a:ident| $(let $p:ident = $e:expr;)*] $body:expr) => {
        |#[allow(unused_variables)] $api, #[allow(unused_variables)] $obj, call| {
            $crate::dagger::dispatch::boxed(async move {
                #[allow(unused_variables)]
                let $a = call.args;
                #[allow(unused_variables)]
                let $call = call;
                $(
                    #[allow(unused_variables)]
                    let $p = $e;
                )*
                $body
            })
        }
    };
    (|$api:ident, $obj:ident, $call:ident, $a:ident| $(let $p:ident = $e:expr;)* $body:expr) => {
        $crate::dagger::dispatch::field!([|$api, $obj, $call, $a| $(let $p = $e;)*] $body)
    };
}

/// A type's table: `table!(vis NAME: T = "Type", Object::Variant(v) => v, &[parts], &[families]);`
/// (the pattern picks this type's objects out of [`Object`]).
macro_rules! table {
    ($(#[$m:meta])* $vis:vis $name:ident: $t:ty = $type_name:literal, $pat:pat => $v:expr, $parts:expr, $families:expr $(,)?) => {
        $(#[$m])*
        $vis static $name: $crate::dagger::dispatch::Table<$t> = $crate::dagger::dispatch::Table::new(
            $type_name,
            |o| match o {
                $pat => Some($v),
                _ => None,
            },
            $parts,
            $families,
        );
    };
}
pub(crate) use {field, fields, table};

/// The fields of one object type.
pub(crate) struct Table<T: 'static> {
    type_name: &'static str,
    /// The object of this table's type, if `Object` is one.
    of: fn(&Object) -> Option<&T>,
    parts: &'static [Fields<T>],
    families: Families<T>,
    index: OnceLock<HashMap<&'static str, Handler<T>>>,
}

impl<T: 'static> Table<T> {
    pub(crate) const fn new(
        type_name: &'static str,
        of: fn(&Object) -> Option<&T>,
        parts: &'static [Fields<T>],
        families: Families<T>,
    ) -> Table<T> {
        Table { type_name, of, parts, families, index: OnceLock::new() }
    }

    fn index(&self) -> &HashMap<&'static str, Handler<T>> {
        self.index.get_or_init(|| {
            let mut m = HashMap::new();
            for (name, h) in self.parts.iter().flat_map(|p| p.iter()) {
                assert!(m.insert(*name, *h).is_none(), "{}.{name} is listed twice", self.type_name);
            }
            m
        })
    }

    fn handler(&self, field: &str) -> Option<Handler<T>> {
        if let Some(h) = self.index().get(field) {
            return Some(*h);
        }
        self.families.iter().find_map(|(prefix, suffix, h)| {
            let middle = field.strip_prefix(prefix)?.strip_suffix(suffix)?;
            (!middle.is_empty()).then_some(*h)
        })
    }
}

/// A [`Table`] of any type, as the resolver and the coverage report use it.
pub(crate) trait ObjectFields: Sync {
    fn type_name(&self) -> &'static str;
    /// Whether the table serves `field` (exactly or as a family member).
    fn serves(&self, field: &str) -> bool;
    /// The names listed exactly (families not included).
    #[cfg(test)]
    fn names(&self) -> Vec<&'static str>;
    /// Resolves `call` on `object`; `None` when the table has no such field.
    fn resolve<'a>(&'static self, api: &'a Api, object: &'a Object, call: &'a FieldCall<'a>) -> Option<Fut<'a>>;
}

impl<T: Sync + 'static> ObjectFields for Table<T> {
    fn type_name(&self) -> &'static str {
        self.type_name
    }

    fn serves(&self, field: &str) -> bool {
        self.handler(field).is_some()
    }

    #[cfg(test)]
    fn names(&self) -> Vec<&'static str> {
        self.index().keys().copied().collect()
    }

    fn resolve<'a>(&'static self, api: &'a Api, object: &'a Object, call: &'a FieldCall<'a>) -> Option<Fut<'a>> {
        let h = self.handler(call.field)?;
        match (self.of)(object) {
            Some(v) => Some(h(api, v, call)),
            None => {
                let e = format!("internal error: the {} table was given a {}", self.type_name, object.type_name());
                Some(Box::pin(std::future::ready(Err(ApiError::from(e)))))
            }
        }
    }
}

static BY_TYPE: LazyLock<HashMap<&'static str, &'static dyn ObjectFields>> = LazyLock::new(|| {
    let mut m = HashMap::new();
    for t in super::TABLES {
        assert!(m.insert(t.type_name(), *t).is_none(), "two tables for {}", t.type_name());
    }
    m
});

/// The table of `type_name`, if the API serves that type.
pub(crate) fn table_of(type_name: &str) -> Option<&'static dyn ObjectFields> {
    BY_TYPE.get(type_name).copied()
}

/// Fields every served object has, resolved before its table: `id`, and
/// `sync` on all but `Query`.
pub(crate) fn is_common(type_name: &str, field: &str) -> bool {
    field == "id" || (field == "sync" && type_name != "Query")
}

/// Whether the API serves `type_name.field`.
pub fn implements(type_name: &str, field: &str) -> bool {
    table_of(type_name).is_some_and(|t| is_common(type_name, field) || t.serves(field))
}

/// Whether the API has a table for `type_name`.
pub fn serves_type(type_name: &str) -> bool {
    table_of(type_name).is_some()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{json, Value as Json};
    use tanto_gql::{Args, FieldCall, Obj, Resolved, Resolver};

    use crate::dagger::coverage::probe_engine;
    use crate::dagger::{Api, Objects};

    /// Every table names a schema type and only fields of it (a misspelt
    /// name would never be called), and lists no field twice.
    #[test]
    fn tables_name_schema_fields() {
        let schema = crate::schema::dagger_v021();
        for t in super::super::TABLES {
            let ty = schema.get_type(t.type_name()).unwrap_or_else(|| panic!("{} is not in the schema", t.type_name()));
            for f in t.names() {
                assert!(ty.fields.contains_key(f), "{}.{f} is not in the schema", t.type_name());
            }
        }
    }

    async fn call(api: &Api, parent: &Obj, field: &str, args: Json) -> Result<Resolved, String> {
        let schema = crate::schema::dagger_v021();
        let def = schema.field(&parent.type_name, field).unwrap_or_else(|| panic!("{}.{field}", parent.type_name));
        let mut a = Args::new(parent.type_name.as_str(), field);
        if let Json::Object(m) = args {
            for (k, v) in m {
                a.insert(k, v);
            }
        }
        let c = FieldCall { schema, type_name: &parent.type_name, field, args: &a, def };
        api.resolve(parent, &c).await.map_err(|e| e.message)
    }

    fn object(r: Result<Resolved, String>) -> Obj {
        match r {
            Ok(Resolved::Object(o)) => o,
            other => panic!("not an object: {other:?}"),
        }
    }

    #[tokio::test]
    async fn fields_resolve_through_their_tables() {
        let api = Api::new(probe_engine(), Arc::new(Objects::default()));
        let root = Api::root();
        let ctr = object(call(&api, &root, "container", json!({})).await);
        let Ok(Resolved::Leaf(Json::String(id))) = call(&api, &ctr, "id", json!({})).await else { panic!("id") };
        let env = object(call(&api, &root, "env", json!({})).await);
        let env =
            object(call(&api, &env, "withContainerInput", json!({"name": "c", "value": id, "description": "d"})).await);
        let binding = object(call(&api, &env, "input", json!({"name": "c"})).await);
        // (parent, field, arguments, the value or the error)
        let cases: Vec<(&Obj, &str, Json, Result<Json, &str>)> = vec![
            (&root, "version", json!({}), Ok(json!(super::super::API_VERSION))),
            (&ctr, "platform", json!({}), Ok(json!("linux/amd64"))),
            (&ctr, "withMountedVolume", json!({}), Err("not implemented yet: Container.withMountedVolume")),
            // A family: `load<T>FromID`.
            (&root, "loadContainerFromID", json!({"id": id}), Ok(json!("Container"))),
            (&root, "loadSecretFromID", json!({"id": id}), Err("is a Container, not a Secret")),
            // Families: `Env.with<T>Input`, `Binding.as<T>`.
            (&binding, "typeName", json!({}), Ok(json!("Container"))),
            (&binding, "asContainer", json!({}), Ok(json!("Container"))),
            (&binding, "asDirectory", json!({}), Err("holds a Container, not a Directory")),
            (&env, "withModule", json!({"module": "x"}), Err("not implemented yet: Env.withModule")),
        ];
        for (parent, field, args, want) in cases {
            let got = call(&api, parent, field, args).await;
            match (got, want) {
                (Ok(Resolved::Leaf(v)), Ok(w)) => assert_eq!(v, w, "{field}"),
                (Ok(Resolved::Object(o)), Ok(w)) => assert_eq!(json!(o.type_name), w, "{field}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{field}: {e}"),
                (got, want) => panic!("{field}: got {got:?}, want {want:?}"),
            }
        }
    }
}
