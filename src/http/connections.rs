//! Connections open per client address (`server.max_connections_per_address`), counted from
//! actix-web's `on_connect` hook. What is capped: a connection is always accepted (actix-web
//! cannot refuse one from `on_connect`), counted against its address (IPv6 by its /64, as in
//! `limits::address_key`) and uncounted when it closes. A connection that opens while its
//! address already has the cap open is marked; every request on it is answered 429
//! problem+json with `Retry-After` and `Connection: close`, so it is closed after its first
//! request (one that never sends a request is closed by `client_request_timeout`). The map
//! holds only addresses with a connection open, so it is bounded by the connections open
//! (`server.max_connections_per_worker` per worker).

use std::any::Any;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::body::MessageBody;
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError as _};

use super::limits::address_key;
use super::problem::ApiError;

/// The connections open per client address.
#[derive(Debug, Clone)]
pub struct Connections {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    cap: usize,
}

/// One connection's place in the count, given back when the connection (and with it its
/// extensions) is dropped.
#[derive(Debug)]
pub struct Slot {
    connections: Connections,
    key: IpAddr,
    over: bool,
}

impl Connections {
    pub fn new(cap: usize) -> Self {
        Self {
            open: Arc::default(),
            cap,
        }
    }

    /// For `HttpServer::on_connect` (plain or TLS): counts the connection and marks it when
    /// over the cap.
    pub fn on_connect(&self, io: &dyn Any, extensions: &mut Extensions) {
        let Some(peer) = crate::tls::peer_addr(io) else {
            return;
        };
        let key = address_key(peer.ip());
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        *count += 1;
        let over = *count > self.cap;
        extensions.insert(Slot {
            connections: self.clone(),
            key,
            over,
        });
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .connections
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// The middleware: while the engine drains before it stops, every response closes its
/// connection, so that no client sends its next request on a connection about to be closed.
pub async fn close_when_draining(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let draining = |request: &actix_web::HttpRequest| {
        request
            .app_data::<actix_web::web::Data<super::AppState>>()
            .is_some_and(|state| state.draining.load(std::sync::atomic::Ordering::Relaxed))
    };
    let mut response = next.call(request).await?;
    if draining(response.request()) {
        response
            .response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    Ok(response)
}

/// The middleware: a request on a connection over its address's cap is 429 and closes it.
pub async fn refuse_over_cap(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if request.conn_data::<Slot>().is_some_and(|slot| slot.over) {
        let mut response = ApiError::TooManyRequests {
            detail: "Te veel verbindingen open vanaf dit adres.".into(),
            retry_after_seconds: 1,
        }
        .error_response();
        response
            .head_mut()
            .set_connection_type(ConnectionType::Close);
        return Ok(request.into_response(response).map_into_right_body());
    }
    Ok(next.call(request).await?.map_into_left_body())
}
