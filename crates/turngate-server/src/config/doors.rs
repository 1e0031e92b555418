//! Which doors a configuration leaves open, and whether it may start.
//!
//! A door is a route that reaches a call, a transcript or a model session.
//! Each one is authenticated by a secret; a door whose secret is empty is
//! open. On a loopback address (development, the demo) open doors are
//! only warned about. On any other address the server refuses to start
//! while one is open, naming the key to set, unless
//! `auth.allow_unauthenticated` (or `--insecure`) says it is meant.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::{Config, ConfigError};

/// One unauthenticated way in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Door {
    /// The routes it opens, as a person would name them.
    pub routes: String,
    /// What closes it.
    pub fix: String,
    /// Served on the admin listener rather than the main one.
    pub admin: bool,
}

impl fmt::Display for Door {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.routes, self.fix)
    }
}

/// The doors left open, for a refusal or the start-up warnings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenDoors(pub Vec<Door>);

impl fmt::Display for OpenDoors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, door) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{door}")?;
        }
        Ok(())
    }
}

/// True for 127.0.0.0/8 and ::1: only this machine can connect.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

impl Config {
    /// Every open door, given the routes of transports registered without
    /// authentication (`/name`).
    pub fn open_doors(&self, unauthenticated_routes: &[String]) -> OpenDoors {
        let auth = &self.auth;
        let mut doors = Vec::new();
        let mut open = |routes: &str, fix: &str, admin: bool| {
            doors.push(Door { routes: routes.to_owned(), fix: fix.to_owned(), admin });
        };
        if self.serves("twilio") {
            if auth.twilio_auth_token.is_empty() {
                open("/twilio, /twilio/voice", "set auth.twilio_auth_token", false);
            } else if self.public_url.is_empty() {
                // The signature covers the URL Twilio was given; taking it
                // from the request's Host header lets the sender choose it.
                open(
                    "/twilio, /twilio/voice",
                    "set public_url: signatures must not be checked against the Host header",
                    false,
                );
            }
        }
        if self.serves("telnyx") {
            if auth.telnyx_stream_token.is_empty() {
                open("/telnyx", "set auth.telnyx_stream_token", false);
            }
            if auth.telnyx_public_key.is_empty() {
                open("/telnyx/webhook", "set auth.telnyx_public_key", false);
            }
        }
        if self.serves("audiocodes") {
            if auth.audiocodes_token.is_empty() {
                open("/audiocodes", "set auth.audiocodes_token", false);
            }
            if !self.redis.url.is_empty() && auth.worker_token.is_empty() {
                open(
                    "/audiocodes relayed between workers",
                    "set auth.worker_token on every worker",
                    false,
                );
            }
        }
        if self.serves("openai_sip") && self.openai.webhook_secret.trim().is_empty() {
            open("/openai/webhook", "set openai.webhook_secret", false);
        }
        if auth.client_token.is_empty() {
            if self.serves("chat") {
                open("/chat", "set auth.client_token", false);
            }
            if self.serves("session") {
                open(
                    "/session, /session/{id}/confirm, /session/{id}/publish",
                    "set auth.client_token",
                    false,
                );
            }
        }
        if auth.admin_token.is_empty() {
            open("/calls, /calls/{id}", "set auth.admin_token", !self.admin_listen.is_empty());
        }
        for route in unauthenticated_routes {
            open(
                route,
                "registered without authentication: use ServerBuilder::authenticated_transport",
                false,
            );
        }
        OpenDoors(doors)
    }

    /// Refuses a configuration that would serve an open door on an address
    /// other machines can reach, unless that is explicitly allowed. `main`
    /// and `admin` are the addresses actually listened on.
    pub fn check_exposure(
        &self,
        main: &SocketAddr,
        admin: Option<&SocketAddr>,
        unauthenticated_routes: &[String],
    ) -> Result<OpenDoors, ConfigError> {
        let doors = self.open_doors(unauthenticated_routes);
        if self.auth.allow_unauthenticated {
            return Ok(doors);
        }
        let exposed: Vec<Door> = doors
            .0
            .iter()
            .filter(|door| {
                let addr = if door.admin { admin.unwrap_or(main) } else { main };
                !is_loopback(addr)
            })
            .cloned()
            .collect();
        if exposed.is_empty() {
            return Ok(doors);
        }
        let (key, addr) = if exposed.iter().all(|d| d.admin) {
            ("admin_listen", admin.unwrap_or(main))
        } else {
            ("listen", main)
        };
        Err(ConfigError::new(
            "configuration",
            key,
            format!(
                "refusing to serve unauthenticated doors on {addr}, which other machines can reach: {}; \
                 or set auth.allow_unauthenticated = true (--insecure) if that is meant",
                OpenDoors(exposed)
            ),
        ))
    }
}
