//! The one table of the engine's routes: path pattern, methods with their handlers, and the API
//! (audience) each belongs to.
//!
//! Everything else about routes is built from [`ROUTES`] or checked against it: `configure`
//! walks it to register every resource; the `Allow` header of a 405 lists the route's methods
//! from it; the request metrics take the `api` label from it; `tests/it/openapi.rs` checks that
//! `openapi.json` documents exactly these paths and methods. It holds no logic of its own.

use std::sync::LazyLock;

use actix_web::http::Method;
use actix_web::web;

use super::{abonnementen, account, batches, beheer, berichttypen, ops, prognoses, rapportages};
use super::{portaal, receipts, validaties};

/// An HTTP method a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    /// As HTTP spells it (`GET`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    pub fn method(self) -> Method {
        match self {
            Self::Get => Method::GET,
            Self::Post => Method::POST,
            Self::Put => Method::PUT,
            Self::Patch => Method::PATCH,
            Self::Delete => Method::DELETE,
        }
    }
}

/// The audience a route serves: the `api` label of the request duration histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Afnemer,
    Burger,
    Beheer,
    Ops,
    /// The Leveranciersportaal's pages (for people, in a browser).
    Portaal,
}

impl Api {
    pub const ALL: [Self; 5] = [
        Self::Afnemer,
        Self::Burger,
        Self::Beheer,
        Self::Ops,
        Self::Portaal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Afnemer => "afnemer",
            Self::Burger => "burger",
            Self::Beheer => "beheer",
            Self::Ops => "ops",
            Self::Portaal => "portaal",
        }
    }
}

/// The listener(s) a route is served on: the API listener (`server.listen`), the operations
/// listener (`server.ops_listen`), or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Api,
    Operations,
    Both,
}

impl Listener {
    /// Whether a route with this value is served on `on` (`Api` or `Operations`).
    pub fn serves(self, on: Listener) -> bool {
        self == Listener::Both || self == on
    }
}

/// One method of a route and the handler that answers it (an actix route without its method
/// guard, which `configure` adds from `verb`).
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub verb: Verb,
    pub handler: fn() -> actix_web::Route,
}

/// One resource: its full path pattern (as `match_pattern` reports it), its API and its
/// methods, in the order the `Allow` header lists them.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub path: &'static str,
    pub api: Api,
    /// The listener(s) that serve it.
    pub listener: Listener,
    pub operations: &'static [Operation],
}

impl Route {
    /// The value of the `Allow` header on this route's 405 answers: `POST, GET`.
    pub fn allow(&self) -> String {
        let verbs: Vec<&str> = self.operations.iter().map(|o| o.verb.as_str()).collect();
        verbs.join(", ")
    }
}

const fn op(verb: Verb, handler: fn() -> actix_web::Route) -> Operation {
    Operation { verb, handler }
}

use Api::{Afnemer, Beheer, Burger, Ops, Portaal};
use Listener::{Both, Operations};
use Verb::{Delete, Get, Patch, Post, Put};

/// Every route the engine serves.
pub const ROUTES: &[Route] = &[
    Route {
        path: "/v1/batches",
        api: Afnemer,
        listener: Listener::Api,
        operations: &[op(Post, || web::to(batches::deliver))],
    },
    Route {
        path: "/v1/batches/{batchId}",
        api: Afnemer,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(batches::status))],
    },
    Route {
        path: "/v1/account",
        api: Burger,
        listener: Listener::Api,
        operations: &[
            op(Post, || web::to(account::open)),
            op(Get, || web::to(account::get)),
            op(Patch, || web::to(account::patch)),
            op(Delete, || web::to(account::close)),
        ],
    },
    Route {
        path: "/v1/account/voorkeuren",
        api: Burger,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(account::voorkeuren))],
    },
    Route {
        path: "/v1/account/voorkeuren/{oin}",
        api: Burger,
        listener: Listener::Api,
        operations: &[op(Put, || web::to(account::put_voorkeur))],
    },
    Route {
        path: "/v1/account/berichten",
        api: Burger,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(account::berichten))],
    },
    Route {
        path: "/v1/account/berichten/{id}",
        api: Burger,
        listener: Listener::Api,
        operations: &[
            op(Get, || web::to(account::bericht)),
            op(Patch, || web::to(account::patch_bericht)),
            op(Delete, || web::to(account::delete_bericht)),
        ],
    },
    Route {
        path: "/v1/account/berichten/{id}/bijlagen/{volgorde}",
        api: Burger,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(account::bijlage))],
    },
    Route {
        path: "/v1/verwerkingsberichten",
        api: Afnemer,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(receipts::list))],
    },
    Route {
        path: "/v1/berichttypen",
        api: Afnemer,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(berichttypen::list))],
    },
    Route {
        path: "/v1/berichttypen/{code}",
        api: Afnemer,
        listener: Listener::Api,
        operations: &[op(Put, || web::to(berichttypen::put))],
    },
    Route {
        path: "/v1/prognoses",
        api: Afnemer,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(prognoses::list))],
    },
    Route {
        path: "/v1/prognoses/{maand}",
        api: Afnemer,
        listener: Listener::Api,
        operations: &[op(Put, || web::to(prognoses::put))],
    },
    Route {
        path: "/v1/rapportages/dagelijks",
        api: Afnemer,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(rapportages::dagelijks))],
    },
    Route {
        path: "/v1/validaties",
        api: Afnemer,
        listener: Listener::Api,
        operations: &[op(Post, || web::to(validaties::validate))],
    },
    Route {
        path: "/v1/abonnementsverzoeken",
        api: Afnemer,
        listener: Listener::Api,
        operations: &[op(Post, || web::to(abonnementen::vraag_aan))],
    },
    Route {
        path: "/v1/abonnementsverzoeken/{verzoekId}",
        api: Afnemer,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(abonnementen::status))],
    },
    Route {
        path: "/v1/abonnementsverzoeken/{verzoekId}/resultaat",
        api: Afnemer,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(abonnementen::resultaat))],
    },
    Route {
        path: "/v1/beheer/rapportages/maandelijks",
        api: Beheer,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(rapportages::maandelijks))],
    },
    Route {
        path: "/v1/beheer/afnemers",
        api: Beheer,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(beheer::list_afnemers))],
    },
    Route {
        path: "/v1/beheer/afnemers/{oin}",
        api: Beheer,
        listener: Listener::Api,
        operations: &[op(Put, || web::to(beheer::put_afnemer))],
    },
    Route {
        path: "/v1/beheer/afnemers/{oin}/api-sleutels",
        api: Beheer,
        listener: Listener::Api,
        operations: &[
            op(Get, || web::to(beheer::list_api_keys)),
            op(Post, || web::to(beheer::create_api_key)),
        ],
    },
    Route {
        path: "/v1/beheer/afnemers/{oin}/api-sleutels/{id}",
        api: Beheer,
        listener: Listener::Api,
        operations: &[op(Delete, || web::to(beheer::revoke_api_key))],
    },
    Route {
        path: "/leveranciersportaal",
        api: Portaal,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(portaal::overzicht))],
    },
    Route {
        path: "/leveranciersportaal/inloggen",
        api: Portaal,
        listener: Listener::Api,
        operations: &[op(Post, || web::to(portaal::inloggen))],
    },
    Route {
        path: "/leveranciersportaal/uitloggen",
        api: Portaal,
        listener: Listener::Api,
        operations: &[op(Post, || web::to(portaal::uitloggen))],
    },
    Route {
        path: "/leveranciersportaal/batches",
        api: Portaal,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(portaal::batches))],
    },
    Route {
        path: "/leveranciersportaal/batches/{batchId}",
        api: Portaal,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(portaal::batch))],
    },
    Route {
        path: "/leveranciersportaal/afwijzingen",
        api: Portaal,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(portaal::afwijzingen))],
    },
    Route {
        path: "/leveranciersportaal/afwijzingen.csv",
        api: Portaal,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(portaal::afwijzingen_csv))],
    },
    Route {
        path: "/leveranciersportaal/berichttypen",
        api: Portaal,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(portaal::berichttypen))],
    },
    Route {
        path: "/leveranciersportaal/stijl.css",
        api: Portaal,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(portaal::stijl))],
    },
    Route {
        path: "/v1/openapi.json",
        api: Ops,
        listener: Listener::Api,
        operations: &[op(Get, || web::to(ops::openapi))],
    },
    Route {
        path: "/metrics",
        api: Ops,
        listener: Operations,
        operations: &[op(Get, || web::to(ops::metrics))],
    },
    Route {
        path: "/health/live",
        api: Ops,
        listener: Both,
        operations: &[op(Get, || web::to(ops::live))],
    },
    Route {
        path: "/health/ready",
        api: Ops,
        listener: Both,
        operations: &[op(Get, || web::to(ops::ready))],
    },
];

/// Each route's `Allow` value, computed once (the 405 answer needs a `&'static str`).
static ALLOW: LazyLock<Vec<String>> = LazyLock::new(|| ROUTES.iter().map(Route::allow).collect());

/// The `Allow` value of `ROUTES[index]`.
pub(super) fn allow_of(index: usize) -> &'static str {
    ALLOW[index].as_str()
}

/// The API of the route with this pattern (as `HttpRequest::match_pattern` gives it).
pub fn api_of_pattern(pattern: &str) -> Option<Api> {
    route_of_pattern(pattern).map(|r| r.api)
}

/// The route with this pattern (as `HttpRequest::match_pattern` gives it); `None` for any
/// other text, so what is taken from the table is one of its own `&'static` paths.
pub fn route_of_pattern(pattern: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.path == pattern)
}

/// The API of a path no route matched: by its prefix, as the routes under it are. A test
/// keeps this rule true to [`ROUTES`].
pub fn api_of_path(path: &str) -> Api {
    if path.starts_with("/v1/account") {
        Burger
    } else if path.starts_with("/v1/beheer") {
        Beheer
    } else if path.starts_with("/leveranciersportaal") {
        Portaal
    } else if path.starts_with("/v1/openapi.json")
        || path.starts_with("/metrics")
        || path.starts_with("/health")
    {
        Ops
    } else {
        Afnemer
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn each_path_and_method_is_routed_once() {
        let mut seen = BTreeSet::new();
        for route in ROUTES {
            assert!(!route.operations.is_empty(), "{} has no method", route.path);
            for operation in route.operations {
                assert!(
                    seen.insert((route.path, operation.verb.as_str())),
                    "{} {} twice",
                    operation.verb.as_str(),
                    route.path
                );
            }
        }
    }

    #[test]
    fn the_prefix_rule_agrees_with_the_table() {
        for route in ROUTES {
            assert_eq!(api_of_path(route.path), route.api, "{}", route.path);
            assert_eq!(api_of_pattern(route.path), Some(route.api));
        }
        assert_eq!(api_of_path("/v1/account/onbekend"), Burger);
        assert_eq!(api_of_path("/v1/beheer/onbekend"), Beheer);
        assert_eq!(api_of_path("/health/onbekend"), Ops);
        assert_eq!(api_of_path("/onbekend"), Afnemer);
        assert_eq!(api_of_pattern("/onbekend"), None);
    }

    #[test]
    fn metrics_are_on_the_operations_listener_only_and_health_on_both() {
        for route in ROUTES {
            let expected = match route.path {
                "/metrics" => Listener::Operations,
                "/health/live" | "/health/ready" => Listener::Both,
                _ => Listener::Api,
            };
            assert_eq!(route.listener, expected, "{}", route.path);
        }
        assert!(
            Listener::Both.serves(Listener::Api) && Listener::Both.serves(Listener::Operations)
        );
        assert!(!Listener::Operations.serves(Listener::Api));
        assert!(!Listener::Api.serves(Listener::Operations));
    }

    #[test]
    fn allow_lists_the_methods_in_table_order() {
        let account = ROUTES
            .iter()
            .position(|r| r.path == "/v1/account")
            .expect("/v1/account");
        assert_eq!(allow_of(account), "POST, GET, PATCH, DELETE");
        let batches = ROUTES
            .iter()
            .position(|r| r.path == "/v1/batches")
            .expect("/v1/batches");
        assert_eq!(allow_of(batches), "POST");
    }
}
