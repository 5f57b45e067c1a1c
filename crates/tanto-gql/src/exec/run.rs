//! Field execution without recursion per nesting level.
//!
//! Every position of the response (a field of an object, an item of a list) is a [`Node`] in
//! one vector, pointing at its parent. Fields waiting to start are [`Work`] on a stack; fields
//! waiting for the resolver are futures in one `FuturesUnordered`, each resolving one field and
//! nothing below it. One loop starts work and completes results, so a chain of ten thousand
//! calls is ten thousand turns of the loop, not ten thousand nested polls. Siblings and list
//! items still resolve concurrently, each as soon as its parent is complete.
//!
//! Nodes end as a leaf, an object or list of child nodes, or failed (an error was recorded);
//! [`super::shape`] turns them into the response, propagating failures to the nearest nullable
//! position as the spec's null propagation does.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::{Map, Value as Json};

use super::super::ast::{Field, Pos};
use super::super::introspection;
use super::super::limits::MAX_RESPONSE_POSITIONS;
use super::super::request::GqlError;
use super::super::resolver::{FieldCall, FieldError, Obj, Resolved};
use super::super::schema::{FieldDef, TypeDef, TypeKind, TypeRef};
use super::super::value::Args;
use super::plan::{Ctx, Grouped};

pub(super) type NodeId = usize;

/// Where a node sits in its parent.
pub(super) enum Seg<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

pub(super) enum State {
    /// Waiting for its resolver (or its `id`, for an object selected without sub-fields).
    Pending,
    Leaf(Json),
    Object(Vec<NodeId>),
    List(Vec<NodeId>),
    /// Its error is recorded; its null goes to the nearest nullable position.
    Failed,
}

pub(super) struct Node<'a> {
    pub parent: NodeId,
    pub seg: Seg<'a>,
    /// A failure here fails the parent too (a non-null position).
    pub non_null: bool,
    pub state: State,
}

/// A field to start: the parent object, its type, and the fields merged under one key.
struct Work<'a> {
    node: NodeId,
    obj: Arc<Obj>,
    ty: &'a TypeDef,
    fields: Vec<&'a Field>,
}

/// What a finished future was resolving.
enum Job<'a> {
    Field {
        node: NodeId,
        ty: &'a TypeDef,
        def: &'a FieldDef,
        fields: Vec<&'a Field>,
    },
    /// The `id` of an object selected without sub-fields, at a position of type `ty`.
    BareId {
        node: NodeId,
        concrete: &'a TypeDef,
        ty: &'a TypeRef,
        site: Site<'a>,
    },
}

/// The field a value is completed for, for error messages.
#[derive(Clone, Copy)]
struct Site<'a> {
    parent: &'a TypeDef,
    def: &'a FieldDef,
    pos: Pos,
}

/// Exceeded [`MAX_RESPONSE_POSITIONS`]: the request stops.
pub(super) struct TooBig;

pub(super) struct Run<'a> {
    ctx: &'a Ctx<'a>,
    pub nodes: Vec<Node<'a>>,
    pub errors: Vec<GqlError>,
    ready: Vec<Work<'a>>,
    pending: FuturesUnordered<BoxFuture<'a, (Job<'a>, Result<Resolved, FieldError>)>>,
}

impl<'a> Run<'a> {
    /// Executes `groups` on the root object; the root is node 0.
    pub async fn execute(
        ctx: &'a Ctx<'a>,
        root: &Obj,
        root_type: &'a TypeDef,
        groups: Grouped<'a>,
    ) -> Result<Run<'a>, TooBig> {
        let mut run =
            Run { ctx, nodes: Vec::new(), errors: Vec::new(), ready: Vec::new(), pending: FuturesUnordered::new() };
        run.nodes.push(Node { parent: 0, seg: Seg::Root, non_null: true, state: State::Pending });
        let children = run.spawn_fields(0, Arc::new(root.clone()), root_type, groups)?;
        run.nodes[0].state = State::Object(children);
        run.ready.reverse();
        loop {
            while let Some(work) = run.ready.pop() {
                let before = run.ready.len();
                run.start(work)?;
                run.ready[before..].reverse();
            }
            match run.pending.next().await {
                Some((job, result)) => {
                    run.finish(job, result)?;
                    // A stack: what one step queued starts in query order.
                    run.ready.reverse();
                }
                None => return Ok(run),
            }
        }
    }

    fn node(&mut self, parent: NodeId, seg: Seg<'a>) -> Result<NodeId, TooBig> {
        if self.nodes.len() >= MAX_RESPONSE_POSITIONS {
            return Err(TooBig);
        }
        self.nodes.push(Node { parent, seg, non_null: false, state: State::Pending });
        Ok(self.nodes.len() - 1)
    }

    fn set(&mut self, node: NodeId, non_null: bool, state: State) {
        let n = &mut self.nodes[node];
        n.non_null = non_null;
        n.state = state;
    }

    /// Records an error at `node` (its path) and `pos`.
    fn error(&mut self, node: NodeId, pos: Pos, message: String, extensions: Option<Map<String, Json>>) {
        let mut path = Vec::new();
        let mut cur = node;
        loop {
            let n = &self.nodes[cur];
            match n.seg {
                Seg::Root => break,
                Seg::Key(k) => path.push(Json::String(k.to_string())),
                Seg::Index(i) => path.push(Json::from(i)),
            }
            cur = n.parent;
        }
        path.reverse();
        self.errors.push(GqlError { message, locations: vec![pos], path: Some(path), extensions });
    }

    /// One child node per response key of `obj`, each queued to start.
    fn spawn_fields(
        &mut self,
        parent: NodeId,
        obj: Arc<Obj>,
        ty: &'a TypeDef,
        groups: Grouped<'a>,
    ) -> Result<Vec<NodeId>, TooBig> {
        let mut children = Vec::with_capacity(groups.len());
        for (key, fields) in groups {
            let node = self.node(parent, Seg::Key(key))?;
            children.push(node);
            self.ready.push(Work { node, obj: obj.clone(), ty, fields });
        }
        Ok(children)
    }

    /// Starts one field: checks and coerces, then resolves it (introspection at once, other
    /// fields as a future).
    fn start(&mut self, work: Work<'a>) -> Result<(), TooBig> {
        let Work { node, obj, ty, fields } = work;
        let field = fields[0];
        let name = field.name.as_str();
        if name == "__typename" {
            self.set(node, false, State::Leaf(Json::String(obj.type_name.clone())));
            return Ok(());
        }
        let schema = self.ctx.schema;
        let is_meta = name == "__schema" || name == "__type";
        let def = if is_meta { schema.meta_field(name) } else { ty.fields.get(name) };
        let Some(def) = def else {
            self.error(node, field.pos, format!("Cannot query field \"{name}\" on type \"{}\".", ty.name), None);
            self.set(node, false, State::Leaf(Json::Null));
            return Ok(());
        };
        let args = match self.ctx.coerce_args(ty, def, field) {
            Ok(a) => a,
            Err(msg) => {
                self.error(node, field.pos, msg, None);
                self.set(node, def.ty.is_non_null(), State::Failed);
                return Ok(());
            }
        };
        let job = Job::Field { node, ty, def, fields };
        if is_meta {
            let r = introspection::resolve_meta(schema, name, &args);
            return self.finish(job, r);
        }
        if ty.name.starts_with("__") {
            let r = introspection::resolve(schema, &obj, name, &args);
            return self.finish(job, r);
        }
        let resolver = self.ctx.resolver;
        self.pending.push(Box::pin(async move {
            let call = FieldCall { schema, type_name: &obj.type_name, field: name, args: &args, def };
            let r = resolver.resolve(&obj, &call).await;
            (job, r)
        }));
        Ok(())
    }

    fn finish(&mut self, job: Job<'a>, result: Result<Resolved, FieldError>) -> Result<(), TooBig> {
        match job {
            Job::Field { node, ty, def, fields } => match result {
                Ok(r) => {
                    let site = Site { parent: ty, def, pos: fields[0].pos };
                    self.complete(node, &def.ty, r, &fields, site)?;
                }
                Err(e) => {
                    self.error(node, fields[0].pos, e.message, e.extensions);
                    self.set(node, def.ty.is_non_null(), State::Failed);
                }
            },
            Job::BareId { node, concrete, ty, site } => match result {
                Ok(Resolved::Leaf(v)) => self.leaf(node, ty, v, site),
                Ok(_) => {
                    let msg = format!("internal error: `{}.id` is not a leaf", concrete.name);
                    self.fail(node, ty.is_non_null(), site, msg);
                }
                Err(e) => {
                    self.error(node, site.pos, e.message, e.extensions);
                    self.set(node, ty.is_non_null(), State::Failed);
                }
            },
        }
        Ok(())
    }

    /// A leaf value at a position of type `ty`: null at a non-null position fails (except
    /// `Void!`, e.g. `Container.exportImage`, which is null as in Dagger).
    fn leaf(&mut self, node: NodeId, ty: &TypeRef, v: Json, site: Site<'a>) {
        let non_null = ty.is_non_null();
        if non_null && v.is_null() && ty.name() != "Void" {
            let msg = format!("Cannot return null for non-nullable field {}.{}.", site.parent.name, site.def.name);
            self.error(node, site.pos, msg, None);
            self.set(node, true, State::Failed);
        } else {
            self.set(node, non_null, State::Leaf(v));
        }
    }

    fn fail(&mut self, node: NodeId, non_null: bool, site: Site<'a>, message: String) {
        self.error(node, site.pos, message, None);
        self.set(node, non_null, State::Failed);
    }

    /// Completes a resolved value at `node`, a position of type `ty`. Recursion follows the
    /// list nesting of `ty` only (a schema type, a few levels); objects queue their fields.
    fn complete(
        &mut self,
        node: NodeId,
        ty: &'a TypeRef,
        r: Resolved,
        fields: &[&'a Field],
        site: Site<'a>,
    ) -> Result<(), TooBig> {
        let (non_null, inner) = match ty {
            TypeRef::NonNull(inner) => (true, &**inner),
            t => (false, t),
        };
        let def = site.def;
        match (inner, r) {
            (_, Resolved::Null) => self.leaf(node, ty, Json::Null, site),
            (TypeRef::List(item_ty), Resolved::List(items)) => {
                // Items complete concurrently, like sibling fields (each may run its own pipeline).
                let mut ids = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let id = self.node(node, Seg::Index(i))?;
                    ids.push(id);
                    self.complete(id, item_ty, item, fields, site)?;
                }
                self.set(node, non_null, State::List(ids));
            }
            // Lists of leaves may come as one JSON array.
            (TypeRef::List(_), Resolved::Leaf(v)) => self.leaf(node, ty, v, site),
            (TypeRef::List(_), _) => {
                let msg = format!("internal error: `{}.{}` resolved to a non-list", site.parent.name, def.name);
                self.fail(node, non_null, site, msg);
            }
            (TypeRef::NonNull(_), r) => self.complete(node, inner, r, fields, site)?,
            (TypeRef::Named(name), r) => self.complete_named(node, ty, name, r, fields, site)?,
        }
        Ok(())
    }

    /// Completes a value of named type `name` (leaf or object) at `node`, of type `ty`.
    fn complete_named(
        &mut self,
        node: NodeId,
        ty: &'a TypeRef,
        name: &str,
        r: Resolved,
        fields: &[&'a Field],
        site: Site<'a>,
    ) -> Result<(), TooBig> {
        let (schema, non_null) = (self.ctx.schema, ty.is_non_null());
        let (parent, def) = (&site.parent.name, &site.def.name);
        let Some(t) = schema.get_type(name) else {
            self.fail(node, non_null, site, format!("internal error: unknown type `{name}`"));
            return Ok(());
        };
        let obj = match r {
            Resolved::Leaf(v) if t.kind.is_leaf() => {
                self.leaf(node, ty, v, site);
                return Ok(());
            }
            _ if t.kind.is_leaf() => {
                let msg = format!("internal error: `{parent}.{def}` resolved to a non-leaf value");
                self.fail(node, non_null, site, msg);
                return Ok(());
            }
            Resolved::Object(obj) => obj,
            Resolved::Leaf(Json::Null) => {
                self.leaf(node, ty, Json::Null, site);
                return Ok(());
            }
            _ => {
                let msg = format!("internal error: `{parent}.{def}` resolved to a non-object value");
                self.fail(node, non_null, site, msg);
                return Ok(());
            }
        };
        let Some(concrete) = schema.get_type(&obj.type_name).filter(|c| c.kind == TypeKind::Object) else {
            let msg = format!("internal error: `{}` is not an object type", obj.type_name);
            self.fail(node, non_null, site, msg);
            return Ok(());
        };
        if fields.iter().all(|f| self.ctx.doc.set(f.set).is_empty()) {
            self.bare_object(node, obj, concrete, ty, site);
            return Ok(());
        }
        let groups = self.ctx.collect_fields(&concrete.name, fields.iter().map(|f| f.set));
        let children = self.spawn_fields(node, Arc::new(obj), concrete, groups)?;
        self.set(node, non_null, State::Object(children));
        Ok(())
    }

    /// Lenient ScalarLeafs: an object field selected without sub-fields yields the object's `id`.
    fn bare_object(&mut self, node: NodeId, obj: Obj, concrete: &'a TypeDef, ty: &'a TypeRef, site: Site<'a>) {
        let Some(id_def) = concrete.fields.get("id") else {
            let msg = format!("field of type `{}` must have a selection of subfields", concrete.name);
            return self.fail(node, ty.is_non_null(), site, msg);
        };
        let (schema, resolver) = (self.ctx.schema, self.ctx.resolver);
        let job = Job::BareId { node, concrete, ty, site };
        self.pending.push(Box::pin(async move {
            let args = Args::new(concrete.name.clone(), id_def.name.clone());
            let call = FieldCall { schema, type_name: &obj.type_name, field: "id", args: &args, def: id_def };
            let r = resolver.resolve(&obj, &call).await;
            (job, r)
        }));
    }
}
