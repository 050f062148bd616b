//! The route table: the only way to add a route, each method with the action it requires.
//!
//! [`Routes`] wraps an axum `Router` and records `(method, path pattern, action)` for every
//! handler it is given; the method constructors ([`get`], [`post`], …) take the action
//! before the handler, so a route without one does not compile. The auth layer looks the
//! request's matched pattern and method up in the finished [`RouteTable`] and refuses any
//! request whose route is missing from it, so a route added around this module is refused,
//! never served.
//!
//! An action may name the `{kind}` path parameter (`{kind}/read`): the asset routes serve
//! `data`, `models`, `environments` and `components` under one pattern, and the action is
//! the kind's own.
//!
//! Invariants:
//! - every entry's action is a catalog action, a marker (`public`, `signed_in`,
//!   `tokens/self`, `users/admin`) or a `{kind}/verb` template (checked by a test);
//! - nesting and merging keep the recorded patterns equal to axum's matched paths.

use crate::state::AppState;
use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::MethodRouter;
use std::collections::HashMap;

/// A method of a route: `GET`, `POST`, … or any method (`*`, the MLflow catch-alls).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RouteMethod {
    One(Method),
    Any,
}

impl std::fmt::Display for RouteMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteMethod::One(m) => f.write_str(m.as_str()),
            RouteMethod::Any => f.write_str("*"),
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub method: RouteMethod,
    pub path: String,
    pub action: &'static str,
}

/// A method router whose every method carries an action.
pub struct Methods {
    router: MethodRouter<AppState>,
    actions: Vec<(RouteMethod, &'static str)>,
}

macro_rules! method_fns {
    ($($name:ident => $method:expr),* $(,)?) => {
        $(
            /// A route method that requires `action`.
            pub fn $name<H, T>(action: &'static str, handler: H) -> Methods
            where
                H: Handler<T, AppState>,
                T: 'static,
            {
                Methods {
                    router: axum::routing::$name(handler),
                    actions: vec![(RouteMethod::One($method), action)],
                }
            }
        )*

        impl Methods {
            $(
                /// Adds a method that requires `action`.
                pub fn $name<H, T>(mut self, action: &'static str, handler: H) -> Methods
                where
                    H: Handler<T, AppState>,
                    T: 'static,
                {
                    self.router = self.router.$name(handler);
                    self.actions.push((RouteMethod::One($method), action));
                    self
                }
            )*
        }
    };
}

method_fns! {
    get => Method::GET,
    post => Method::POST,
    put => Method::PUT,
    patch => Method::PATCH,
    delete => Method::DELETE,
    head => Method::HEAD,
}

/// Every method, one action (MLflow's ENDPOINT_NOT_FOUND catch-alls).
pub fn any<H, T>(action: &'static str, handler: H) -> Methods
where
    H: Handler<T, AppState>,
    T: 'static,
{
    Methods {
        router: axum::routing::any(handler),
        actions: vec![(RouteMethod::Any, action)],
    }
}

impl Methods {
    /// Wraps the handlers in `layer` (e.g. a body limit); the actions stay.
    pub fn layer<L>(mut self, layer: L) -> Methods
    where
        L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: tower::Service<axum::extract::Request> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Response:
            axum::response::IntoResponse + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Error:
            Into<std::convert::Infallible> + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
    {
        self.router = self.router.layer(layer);
        self
    }
}

/// A router that records each route's actions.
#[derive(Clone, Default)]
pub struct Routes {
    router: Router<AppState>,
    entries: Vec<RouteEntry>,
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `path` with its methods.
    pub fn route(mut self, path: &str, methods: Methods) -> Self {
        self.router = self.router.route(path, methods.router);
        self.entries.extend(
            methods
                .actions
                .into_iter()
                .map(|(method, action)| RouteEntry {
                    method,
                    path: path.to_owned(),
                    action,
                }),
        );
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.entries.extend(other.entries);
        self
    }

    /// Serves `other` under `prefix` (axum's nesting: patterns are `prefix` + path).
    pub fn nest(mut self, prefix: &str, other: Routes) -> Self {
        self.router = self.router.nest(prefix, other.router);
        self.entries
            .extend(other.entries.into_iter().map(|e| RouteEntry {
                path: format!("{prefix}{}", e.path),
                ..e
            }));
        self
    }

    /// Wraps every route added so far in `layer`; the actions stay.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: tower::Service<axum::extract::Request> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Response:
            axum::response::IntoResponse + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Error:
            Into<std::convert::Infallible> + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
    {
        self.router = self.router.layer(layer);
        self
    }

    /// The router and the table of its routes.
    pub fn finish(self) -> (Router<AppState>, RouteTable) {
        (self.router, RouteTable::new(self.entries))
    }
}

/// The finished table, looked up by matched path and method.
#[derive(Debug, Default)]
pub struct RouteTable {
    entries: Vec<RouteEntry>,
    by_path: HashMap<String, Vec<(RouteMethod, &'static str)>>,
}

/// What the table says about a matched route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Action(&'static str),
    /// The path is in the table but not with this method (405).
    MethodNotListed,
    /// The path is not in the table at all: refused.
    Unlisted,
}

impl RouteTable {
    fn new(entries: Vec<RouteEntry>) -> Self {
        let mut by_path: HashMap<String, Vec<(RouteMethod, &'static str)>> = HashMap::new();
        for e in &entries {
            by_path
                .entry(e.path.clone())
                .or_default()
                .push((e.method.clone(), e.action));
        }
        RouteTable { entries, by_path }
    }

    /// Every `(method, path, action)` row, in registration order.
    pub fn entries(&self) -> &[RouteEntry] {
        &self.entries
    }

    /// The action of `method` on the matched pattern `path`; `HEAD` falls back to `GET`.
    pub fn lookup(&self, method: &Method, path: &str) -> Lookup {
        let Some(methods) = self.by_path.get(path) else {
            return Lookup::Unlisted;
        };
        let find = |m: &Method| {
            methods
                .iter()
                .find(|(rm, _)| *rm == RouteMethod::One(m.clone()))
                .map(|(_, a)| *a)
        };
        if let Some(a) = find(method) {
            return Lookup::Action(a);
        }
        if *method == Method::HEAD
            && let Some(a) = find(&Method::GET)
        {
            return Lookup::Action(a);
        }
        match methods.iter().find(|(rm, _)| *rm == RouteMethod::Any) {
            Some((_, a)) => Lookup::Action(a),
            None => Lookup::MethodNotListed,
        }
    }
}

/// The asset kinds a `{kind}` template resolves for.
pub const ASSET_KINDS: [&str; 4] = ["data", "models", "environments", "components"];

/// Resolves a `{kind}/verb` template against the request's `kind` parameter; other actions
/// are returned as they are. An unknown kind yields `None` (refused).
pub fn resolve(action: &'static str, kind: Option<&str>) -> Option<String> {
    match action.strip_prefix("{kind}/") {
        None => Some(action.to_owned()),
        Some(verb) => {
            let k = kind?;
            ASSET_KINDS.contains(&k).then(|| format!("{k}/{verb}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ok() -> &'static str {
        "ok"
    }

    #[test]
    fn lookup_finds_methods_falls_back_from_head_and_refuses_the_unlisted() {
        let inner = Routes::new().route("/b/{*rest}", any("signed_in", ok));
        let (_, table) = Routes::new()
            .route("/a/{id}", get("runs/read", ok).post("runs/write", ok))
            .nest("/n", inner)
            .finish();
        assert_eq!(
            table.lookup(&Method::GET, "/a/{id}"),
            Lookup::Action("runs/read")
        );
        assert_eq!(
            table.lookup(&Method::HEAD, "/a/{id}"),
            Lookup::Action("runs/read")
        );
        assert_eq!(
            table.lookup(&Method::POST, "/a/{id}"),
            Lookup::Action("runs/write")
        );
        assert_eq!(
            table.lookup(&Method::DELETE, "/a/{id}"),
            Lookup::MethodNotListed
        );
        assert_eq!(
            table.lookup(&Method::PUT, "/n/b/{*rest}"),
            Lookup::Action("signed_in")
        );
        assert_eq!(table.lookup(&Method::GET, "/elsewhere"), Lookup::Unlisted);
        assert_eq!(table.entries().len(), 3);
    }

    #[test]
    fn kind_templates_resolve_only_for_asset_kinds() {
        assert_eq!(
            resolve("{kind}/read", Some("models")).as_deref(),
            Some("models/read")
        );
        assert_eq!(resolve("{kind}/write", Some("runs")), None);
        assert_eq!(resolve("{kind}/write", None), None);
        assert_eq!(resolve("jobs/read", None).as_deref(), Some("jobs/read"));
    }
}
