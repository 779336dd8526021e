//! What any store backend must do, written once over the roles.
