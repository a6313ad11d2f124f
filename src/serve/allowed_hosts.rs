//! The Host names the workbench answers to: its guard against DNS rebinding.
//!
//! A page on `evil.example` can make the analyst's browser resolve
//! `evil.example` to 127.0.0.1. Its requests then reach the workbench, and to
//! the browser they are same-origin, so the page can read case pages and its
//! form posts carry a matching `Origin: http://evil.example:P`. Only the Host
//! header tells them apart: it names the attacker's domain. So every request
//! must name this server: a loopback name with the bound port, or the address
//! given to `--bind`. Issue 10, item 20.
//!
//! This never resolves a name: DNS is what the attacker controls.

use axum::http::uri::Authority;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The Host values a request may carry, fixed once the listener is bound.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    /// The bound port (the real one: `--port 0` picks it at bind time).
    port: u16,
    /// Loopback addresses and the bound one.
    ips: Vec<IpAddr>,
    /// Bound to a wildcard (0.0.0.0, ::): clients on other machines name this
    /// one by any of its addresses, which cannot be listed portably. An IP
    /// literal cannot be rebound (rebinding needs a domain name), so with a
    /// wildcard bind every IP literal is accepted; names other than
    /// `localhost` still are not.
    is_wildcard: bool,
}

impl AllowedHosts {
    /// The hosts of a server listening on `local` (the listener's address).
    pub fn for_listener(local: SocketAddr) -> AllowedHosts {
        let bound = local.ip().to_canonical();
        let mut ips = vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ];
        if !bound.is_unspecified() && !ips.contains(&bound) {
            ips.push(bound);
        }
        AllowedHosts {
            port: local.port(),
            ips,
            is_wildcard: bound.is_unspecified(),
        }
    }

    /// Whether a request whose Host header is `host` is for this server.
    /// Without a port, a Host means port 80, as a browser sends it.
    pub fn allows(&self, host: &str) -> bool {
        // Authority also takes `user@host`, which no Host header holds.
        if host.contains('@') {
            return false;
        }
        let Ok(authority) = host.parse::<Authority>() else {
            return false;
        };
        if authority.port_u16().unwrap_or(80) != self.port {
            return false;
        }
        let name = authority.host();
        match parse_ip(name) {
            Some(ip) => self.is_wildcard || self.ips.contains(&ip.to_canonical()),
            None => name.eq_ignore_ascii_case("localhost"),
        }
    }

    /// The accepted hosts, for the refusal message: `127.0.0.1:8080, ...`.
    pub fn describe(&self) -> String {
        let mut hosts: Vec<String> = self
            .ips
            .iter()
            .map(|ip| SocketAddr::new(*ip, self.port).to_string())
            .collect();
        hosts.insert(1, format!("localhost:{}", self.port));
        if self.is_wildcard {
            hosts.push(format!(
                "any IP address of this machine with port {}",
                self.port
            ));
        }
        hosts.join(", ")
    }
}

/// An IP literal as a URL writes it: `127.0.0.1` or `[::1]`.
fn parse_ip(host: &str) -> Option<IpAddr> {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        None => host.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(bound: &str) -> AllowedHosts {
        AllowedHosts::for_listener(bound.parse().unwrap())
    }

    /// On loopback: the loopback names with the bound port, nothing else.
    #[test]
    fn loopback_answers_to_its_own_names_only() {
        let loopback = hosts("127.0.0.1:8080");
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
            "[0:0:0:0:0:0:0:1]:8080",
        ] {
            assert!(loopback.allows(ok), "{ok}");
        }
        for refused in [
            "evil.example:8080",
            "evil.example",
            "127.0.0.1:8081",
            "127.0.0.1",
            "localhost",
            "localhost.:8080",
            "127.1:8080",
            "10.0.0.1:8080",
            "user@127.0.0.1:8080",
            "127.0.0.1:8080/x",
            "",
            "[::1",
        ] {
            assert!(!loopback.allows(refused), "{refused}");
        }
        assert_eq!(
            loopback.describe(),
            "127.0.0.1:8080, localhost:8080, [::1]:8080"
        );
        // Port 80 is the one a browser leaves out.
        assert!(hosts("127.0.0.1:80").allows("localhost"));
    }

    /// `--bind ADDR` adds that address; a wildcard adds every IP literal,
    /// never a name.
    #[test]
    fn a_bound_address_is_accepted_too() {
        let lan = hosts("192.168.1.5:8080");
        assert!(lan.allows("192.168.1.5:8080"));
        assert!(lan.allows("127.0.0.1:8080"));
        assert!(!lan.allows("192.168.1.6:8080"));
        assert!(!lan.allows("workbench.corp:8080"));

        let v6 = hosts("[fd00::5]:8080");
        assert!(v6.allows("[fd00::5]:8080"));
        assert!(!v6.allows("[fd00::6]:8080"));

        for wildcard in [hosts("0.0.0.0:8080"), hosts("[::]:8080")] {
            for ok in [
                "0.0.0.0:8080",
                "10.1.2.3:8080",
                "[fe80::1]:8080",
                "localhost:8080",
            ] {
                assert!(wildcard.allows(ok), "{ok}");
            }
            for refused in ["evil.example:8080", "workbench.corp:8080", "10.1.2.3:8081"] {
                assert!(!wildcard.allows(refused), "{refused}");
            }
        }
    }
}
