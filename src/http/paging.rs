//! Cursor paging, the same for every list: `?na={cursor}&limit={n}`. The cursor is opaque to
//! clients: whatever this API handed out as `volgende`.

use actix_web::web;
use serde::Deserialize;

use super::problem::{ApiError, InvalidParam};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    na: Option<String>,
    limit: Option<String>,
}

/// A checked page request: where to start and how many.
#[derive(Debug)]
pub struct Page<C> {
    pub after: Option<C>,
    pub limit: usize,
}

/// Checks the query: a cursor `parse` accepts, a limit of 1 to `max` (`default` when absent);
/// otherwise a 400 naming each broken parameter.
pub fn page<C>(
    query: Result<web::Query<PageQuery>, actix_web::Error>,
    default: usize,
    max: usize,
    parse: impl FnOnce(&str) -> Option<C>,
) -> Result<Page<C>, ApiError> {
    let query = query
        .map_err(|error| ApiError::invalid(vec![InvalidParam::new("query", error.to_string())]))?;
    let mut invalid = Vec::new();
    let after = match query.na.as_deref() {
        None => None,
        Some(text) => {
            let cursor = parse(text);
            if cursor.is_none() {
                invalid.push(InvalidParam::new("na", "is geen cursor die deze API gaf"));
            }
            cursor
        }
    };
    let limit = match query.limit.as_deref().map(str::parse::<usize>) {
        None => default,
        Some(Ok(n)) if (1..=max).contains(&n) => n,
        Some(_) => {
            invalid.push(InvalidParam::new("limit", format!("moet 1 tot {max} zijn")));
            default
        }
    };
    if invalid.is_empty() {
        Ok(Page { after, limit })
    } else {
        Err(ApiError::invalid(invalid))
    }
}
