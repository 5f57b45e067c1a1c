//! SDL definitions into the model: the declared document, then the builtins (standard
//! scalars, directives and introspection types) where not declared.

use std::sync::{Arc, Mutex};

use async_graphql_parser::types as ast;
use async_graphql_value::ConstValue;
use indexmap::IndexMap;

use super::super::sdl::{location_name, parse as parse_sdl};
use super::*;

/// Standard scalars, directives and introspection types, merged into every schema.
const BUILTIN_SDL: &str = r#"
scalar String
scalar Int
scalar Float
scalar Boolean
scalar ID
directive @include(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT
directive @skip(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT
directive @deprecated(reason: String = "No longer supported") on FIELD_DEFINITION | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION | ENUM_VALUE
directive @specifiedBy(url: String!) on SCALAR
type __Schema {
  description: String
  types: [__Type!]!
  queryType: __Type!
  mutationType: __Type
  subscriptionType: __Type
  directives: [__Directive!]!
}
type __Type {
  kind: __TypeKind!
  name: String
  description: String
  specifiedByURL: String
  fields(includeDeprecated: Boolean = false): [__Field!]
  interfaces: [__Type!]
  possibleTypes: [__Type!]
  enumValues(includeDeprecated: Boolean = false): [__EnumValue!]
  inputFields(includeDeprecated: Boolean = false): [__InputValue!]
  ofType: __Type
  isOneOf: Boolean
}
enum __TypeKind { SCALAR OBJECT INTERFACE UNION ENUM INPUT_OBJECT LIST NON_NULL }
type __Field {
  name: String!
  description: String
  args(includeDeprecated: Boolean = false): [__InputValue!]!
  type: __Type!
  isDeprecated: Boolean!
  deprecationReason: String
}
type __InputValue {
  name: String!
  description: String
  type: __Type!
  defaultValue: String
  isDeprecated: Boolean!
  deprecationReason: String
}
type __EnumValue {
  name: String!
  description: String
  isDeprecated: Boolean!
  deprecationReason: String
}
type __Directive {
  name: String!
  description: String
  isRepeatable: Boolean!
  locations: [__DirectiveLocation!]!
  args(includeDeprecated: Boolean = false): [__InputValue!]!
}
enum __DirectiveLocation {
  QUERY MUTATION SUBSCRIPTION FIELD FRAGMENT_DEFINITION FRAGMENT_SPREAD INLINE_FRAGMENT VARIABLE_DEFINITION
  SCHEMA SCALAR OBJECT FIELD_DEFINITION ARGUMENT_DEFINITION INTERFACE UNION ENUM ENUM_VALUE INPUT_OBJECT
  INPUT_FIELD_DEFINITION
}
"#;

/// The meta fields every query root has besides its declared ones.
const META_SDL: &str = r#"
type __Meta {
  __schema: __Schema!
  __type(name: String!): __Type
}
"#;

impl Schema {
    /// Parses an SDL document. Builtins are added when not declared; all references are checked
    /// and every default value is coerced once here.
    pub fn parse(sdl: &str) -> Result<Schema, SchemaError> {
        let doc = parse_sdl(sdl)?;
        let builtins = parse_sdl(BUILTIN_SDL)?;
        let meta = parse_sdl(META_SDL)?;

        let mut b = Builder::default();
        b.add_document(&doc, false)?;
        b.add_document(&builtins, true)?;
        let mut meta_b = Builder::default();
        meta_b.add_document(&meta, true)?;
        let meta_fields = meta_b.types.swap_remove("__Meta").map(|t| t.fields).unwrap_or_default();

        let query_type: Arc<str> = b.query_type.clone().unwrap_or_else(|| "Query".into());
        let mut schema = Schema {
            types: b.types,
            directives: b.directives,
            query_type,
            mutation_type: b.mutation_type,
            meta_fields,
            id_scalars: HashSet::new(),
            intro_cache: Mutex::new(Memo::default()),
        };
        schema.finish()?;
        Ok(schema)
    }
}

impl Schema {
    /// This schema with the definitions of `sdl` added (new types, and
    /// `extend type` for existing ones), checked as a whole.
    pub fn extended(&self, sdl: &str) -> Result<Schema, SchemaError> {
        let doc = parse_sdl(sdl)?;
        let mut b = Builder {
            types: self.types.clone(),
            directives: self.directives.clone(),
            query_type: Some(self.query_type.clone()),
            mutation_type: self.mutation_type.clone(),
        };
        b.add_document(&doc, false)?;
        let mut schema = Schema {
            types: b.types,
            directives: b.directives,
            query_type: self.query_type.clone(),
            mutation_type: b.mutation_type,
            meta_fields: self.meta_fields.clone(),
            id_scalars: HashSet::new(),
            intro_cache: Mutex::new(Memo::default()),
        };
        schema.finish()?;
        Ok(schema)
    }
}

/// Accumulates SDL definitions into the model.
#[derive(Default)]
struct Builder {
    types: IndexMap<Arc<str>, TypeDef>,
    directives: IndexMap<Arc<str>, DirectiveDef>,
    query_type: Option<Arc<str>>,
    mutation_type: Option<Arc<str>>,
}

impl Builder {
    fn add_document(&mut self, doc: &ast::ServiceDocument, builtin: bool) -> Result<(), SchemaError> {
        for def in &doc.definitions {
            match def {
                ast::TypeSystemDefinition::Schema(s) => {
                    if builtin {
                        continue;
                    }
                    let s = &s.node;
                    if let Some(q) = &s.query {
                        self.query_type = Some(q.node.as_str().into());
                    }
                    if let Some(m) = &s.mutation {
                        self.mutation_type = Some(m.node.as_str().into());
                    }
                    if let Some(sub) = &s.subscription {
                        return Err(SchemaError::Subscription(sub.node.to_string()));
                    }
                }
                ast::TypeSystemDefinition::Directive(d) => {
                    let d = &d.node;
                    let name: Arc<str> = d.name.node.as_str().into();
                    if self.directives.contains_key(&name) {
                        if builtin {
                            continue; // the SDL redeclared a standard directive: keep its version
                        }
                        return Err(SchemaError::DuplicateDirective(name.to_string()));
                    }
                    let mut args = IndexMap::new();
                    for a in &d.arguments {
                        let a = input_value(&a.node);
                        if args.contains_key(&a.name) {
                            return Err(SchemaError::DuplicateMember(format!("@{name}({}:)", a.name)));
                        }
                        args.insert(a.name.clone(), a);
                    }
                    self.directives.insert(
                        name.clone(),
                        DirectiveDef {
                            name,
                            description: d.description.as_ref().map(|s| s.node.clone()),
                            args,
                            locations: d.locations.iter().map(|l| location_name(l.node)).collect(),
                            repeatable: d.is_repeatable,
                            builtin,
                        },
                    );
                }
                ast::TypeSystemDefinition::Type(t) => self.add_type(&t.node, builtin)?,
            }
        }
        Ok(())
    }

    fn add_type(&mut self, t: &ast::TypeDefinition, builtin: bool) -> Result<(), SchemaError> {
        let name = t.name.node.as_str();
        let kind = match &t.kind {
            ast::TypeKind::Scalar => TypeKind::Scalar,
            ast::TypeKind::Object(_) => TypeKind::Object,
            ast::TypeKind::Interface(_) => TypeKind::Interface,
            ast::TypeKind::Union(_) => TypeKind::Union,
            ast::TypeKind::Enum(_) => TypeKind::Enum,
            ast::TypeKind::InputObject(_) => TypeKind::InputObject,
        };
        if t.extend {
            match self.types.get(name) {
                Some(existing) if existing.kind == kind => {}
                _ => return Err(SchemaError::BadExtension(name.into())),
            }
        } else if self.types.contains_key(name) {
            if builtin {
                return Ok(()); // declared by the SDL itself (e.g. `scalar ID`)
            }
            return Err(SchemaError::DuplicateType(name.into()));
        } else {
            self.types.insert(name.into(), TypeDef::new(name, kind, builtin));
        }
        let Some(def) = self.types.get_mut(name) else {
            return Err(SchemaError::NoSuchType(name.into()));
        };
        if let Some(d) = &t.description {
            def.description = Some(d.node.clone());
        }
        for d in &t.directives {
            let du = directive_use(&d.node);
            if &*du.name == "specifiedBy" {
                if let Some(ConstValue::String(url)) = du.arg("url") {
                    def.specified_by_url = Some(url.clone());
                }
            }
            def.directives.push(du);
        }
        let dup = |member: &str| SchemaError::DuplicateMember(format!("{name}.{member}"));
        match &t.kind {
            ast::TypeKind::Scalar => {}
            ast::TypeKind::Object(ast::ObjectType { implements, fields })
            | ast::TypeKind::Interface(ast::InterfaceType { implements, fields }) => {
                for i in implements {
                    let i: Arc<str> = i.node.as_str().into();
                    if !def.interfaces.contains(&i) {
                        def.interfaces.push(i);
                    }
                }
                for f in fields {
                    let f = field_def(&f.node);
                    if def.fields.contains_key(&f.name) {
                        return Err(dup(&f.name));
                    }
                    def.fields.insert(f.name.clone(), f);
                }
            }
            ast::TypeKind::Union(u) => {
                for m in &u.members {
                    let m: Arc<str> = m.node.as_str().into();
                    if !def.possible_types.contains(&m) {
                        def.possible_types.push(m);
                    }
                }
            }
            ast::TypeKind::Enum(e) => {
                for v in &e.values {
                    let v = &v.node;
                    let directives: Vec<DirectiveUse> = v.directives.iter().map(|d| directive_use(&d.node)).collect();
                    let ev = EnumValueDef {
                        name: v.value.node.as_str().into(),
                        description: v.description.as_ref().map(|s| s.node.clone()),
                        deprecation: deprecation(&directives),
                        directives,
                    };
                    if def.enum_values.contains_key(&ev.name) {
                        return Err(dup(&ev.name));
                    }
                    def.enum_values.insert(ev.name.clone(), ev);
                }
            }
            ast::TypeKind::InputObject(io) => {
                for f in &io.fields {
                    let f = input_value(&f.node);
                    if def.input_fields.contains_key(&f.name) {
                        return Err(dup(&f.name));
                    }
                    def.input_fields.insert(f.name.clone(), f);
                }
            }
        }
        Ok(())
    }
}

fn directive_use(d: &ast::ConstDirective) -> DirectiveUse {
    DirectiveUse {
        name: d.name.node.as_str().into(),
        args: d.arguments.iter().map(|(n, v)| (n.node.as_str().into(), v.node.clone())).collect(),
    }
}

fn deprecation(directives: &[DirectiveUse]) -> Option<String> {
    let d = directives.iter().find(|d| &*d.name == "deprecated")?;
    Some(match d.arg("reason") {
        Some(ConstValue::String(s)) => s.clone(),
        _ => DEFAULT_DEPRECATION_REASON.to_string(),
    })
}

fn input_value(a: &ast::InputValueDefinition) -> InputValueDef {
    let directives: Vec<DirectiveUse> = a.directives.iter().map(|d| directive_use(&d.node)).collect();
    InputValueDef {
        name: a.name.node.as_str().into(),
        description: a.description.as_ref().map(|s| s.node.clone()),
        ty: TypeRef::from_ast(&a.ty.node),
        default_value: a.default_value.as_ref().map(|v| v.node.clone()),
        default_json: None,
        deprecation: deprecation(&directives),
        directives,
    }
}

fn field_def(f: &ast::FieldDefinition) -> FieldDef {
    let directives: Vec<DirectiveUse> = f.directives.iter().map(|d| directive_use(&d.node)).collect();
    let mut args = IndexMap::new();
    for a in &f.arguments {
        let a = input_value(&a.node);
        args.insert(a.name.clone(), a);
    }
    FieldDef {
        name: f.name.node.as_str().into(),
        description: f.description.as_ref().map(|s| s.node.clone()),
        args,
        ty: TypeRef::from_ast(&f.ty.node),
        deprecation: deprecation(&directives),
        directives,
    }
}
