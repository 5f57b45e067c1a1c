//! The request and response bodies: the JSON a client posts, and the `{"errors", "data"}`
//! shape of every answer.

use serde_json::{Map, Value as Json};

use super::ast::Pos;
use super::json::kind as json_kind;

/// A GraphQL request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    pub query: String,
    pub variables: Option<Map<String, Json>>,
    pub operation_name: Option<String>,
}

impl Request {
    pub fn new(query: impl Into<String>) -> Request {
        Request { query: query.into(), variables: None, operation_name: None }
    }
}

/// Parses a JSON request body `{"query": string, "variables"?: object|null, "operationName"?:
/// string|null}`. On failure, returns the error body to send back.
pub fn parse_request_body(body: &[u8]) -> Result<Request, Json> {
    let v: Json =
        serde_json::from_slice(body).map_err(|e| request_error_body(format!("request body is not valid JSON: {e}")))?;
    let Json::Object(mut m) = v else {
        return Err(request_error_body("request body must be a JSON object with a `query` string"));
    };
    let query = match m.remove("query") {
        Some(Json::String(q)) => q,
        None | Some(Json::Null) => {
            return Err(request_error_body("request body has no `query`: send {\"query\": \"{ ... }\"}"))
        }
        Some(other) => return Err(request_error_body(format!("`query` must be a string, not {}", json_kind(&other)))),
    };
    let variables = match m.remove("variables") {
        None | Some(Json::Null) => None,
        Some(Json::Object(vars)) => Some(vars),
        // Some clients send variables as an encoded JSON string.
        Some(Json::String(s)) if !s.trim().is_empty() => match serde_json::from_str::<Json>(&s) {
            Ok(Json::Object(vars)) => Some(vars),
            Ok(Json::Null) => None,
            _ => return Err(request_error_body("`variables` must be a JSON object")),
        },
        Some(Json::String(_)) => None,
        Some(other) => {
            return Err(request_error_body(format!("`variables` must be an object, not {}", json_kind(&other))))
        }
    };
    let operation_name = match m.remove("operationName") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) if s.is_empty() => None,
        Some(Json::String(s)) => Some(s),
        Some(other) => {
            return Err(request_error_body(format!("`operationName` must be a string, not {}", json_kind(&other))))
        }
    };
    Ok(Request { query, variables, operation_name })
}

pub(crate) fn request_error_body(message: impl Into<String>) -> Json {
    let mut e = Map::new();
    e.insert("message".into(), Json::String(message.into()));
    body(Json::Null, vec![Json::Object(e)])
}

fn body(data: Json, errors: Vec<Json>) -> Json {
    let mut m = Map::new();
    if !errors.is_empty() {
        m.insert("errors".into(), Json::Array(errors));
    }
    m.insert("data".into(), data);
    Json::Object(m)
}

/// An error as it goes into the response.
#[derive(Debug)]
pub(crate) struct GqlError {
    pub message: String,
    pub locations: Vec<Pos>,
    pub path: Option<Vec<Json>>,
    pub extensions: Option<Map<String, Json>>,
}

impl GqlError {
    pub fn at(message: impl Into<String>, pos: Pos) -> GqlError {
        GqlError { message: message.into(), locations: vec![pos], path: None, extensions: None }
    }
    fn has_type(&self) -> bool {
        self.extensions.as_ref().is_some_and(|e| e.contains_key("_type"))
    }
    fn into_json(self) -> Json {
        let mut m = Map::new();
        m.insert("message".into(), Json::String(self.message));
        if !self.locations.is_empty() {
            let locs = self
                .locations
                .iter()
                .map(|p| {
                    let mut l = Map::new();
                    l.insert("line".into(), Json::from(p.line));
                    l.insert("column".into(), Json::from(p.column));
                    Json::Object(l)
                })
                .collect();
            m.insert("locations".into(), Json::Array(locs));
        }
        if let Some(p) = self.path {
            m.insert("path".into(), Json::Array(p));
        }
        if let Some(e) = self.extensions {
            m.insert("extensions".into(), Json::Object(e));
        }
        Json::Object(m)
    }
}

pub(crate) fn errors_body(data: Json, mut errors: Vec<GqlError>) -> Json {
    // Typed errors (`extensions._type`, e.g. EXEC_ERROR) first: Python picks the exception class
    // from errors[0]. Then query order, so concurrent siblings report deterministically.
    errors.sort_by_key(|e| (!e.has_type(), e.locations.first().map(|p| (p.line, p.column))));
    body(data, errors.into_iter().map(GqlError::into_json).collect())
}
