//! Which IP addresses a webhook may reach: the public ones only.
//!
//! A pure classification over [`IpAddr`], used by the operator's `PUT` (an IP-literal
//! `webhookUrl`) and by the webhook client's resolver (every address a name resolves to, at
//! connect time), so that an afnemer's webhook cannot be pointed at the engine's own host or
//! network. It must not resolve names or read configuration (`allow_private_addresses` is the
//! caller's decision).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True when `ip` is a public unicast address: not unspecified, loopback, private,
/// carrier-grade NAT, link-local, multicast, broadcast, documentation, benchmarking, reserved,
/// IPv6 unique-local or site-local; an IPv4-mapped or -compatible IPv6 address is judged as
/// its IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        // 0.0.0.0/8 "this network"
        || a == 0
        // 100.64.0.0/10 shared address space (carrier-grade NAT)
        || (a == 100 && (64..128).contains(&b))
        // 192.0.0.0/24 IETF protocol assignments
        || (a == 192 && b == 0 && c == 0)
        // 198.18.0.0/15 benchmarking
        || (a == 198 && (b == 18 || b == 19))
        // 240.0.0.0/4 reserved
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // ::a.b.c.d, IPv4-compatible (deprecated); :: and ::1 are covered below.
    if segments[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback() {
        return is_public_v4(Ipv4Addr::from(
            (u32::from(segments[6]) << 16) | u32::from(segments[7]),
        ));
    }
    let first = segments[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // fc00::/7 unique local
        || (first & 0xfe00) == 0xfc00
        // fe80::/10 link-local
        || (first & 0xffc0) == 0xfe80
        // fec0::/10 site-local (deprecated)
        || (first & 0xffc0) == 0xfec0
        // 2001:db8::/32 documentation
        || (first == 0x2001 && segments[1] == 0x0db8)
        // 100::/64 discard-only
        || (first == 0x0100 && segments[1..4] == [0; 3]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn public(text: &str) -> bool {
        is_public(text.parse().expect("ip"))
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "93.184.215.14",
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "2606:4700::1111",
            "2a00:1450:400e:80f::200e",
            "::ffff:8.8.8.8",
        ] {
            assert!(public(ip), "{ip} is public");
        }
    }

    #[test]
    fn non_public_addresses_are_refused() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "100::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
        ] {
            assert!(!public(ip), "{ip} is not public");
        }
    }

    proptest! {
        /// An IPv4 address and its IPv4-mapped IPv6 form are judged alike.
        #[test]
        fn a_mapped_address_is_judged_as_its_v4(bits in any::<u32>()) {
            let v4 = Ipv4Addr::from(bits);
            prop_assert_eq!(
                is_public(IpAddr::V4(v4)),
                is_public(IpAddr::V6(v4.to_ipv6_mapped()))
            );
        }

        /// Nothing in 10/8, 127/8, 169.254/16 or 192.168/16 is ever public.
        #[test]
        fn private_ranges_are_never_public(low in any::<u16>(), mid in any::<u8>()) {
            let [c, d] = low.to_be_bytes();
            for a in [10u8, 127] {
                prop_assert!(!is_public(IpAddr::V4(Ipv4Addr::new(a, mid, c, d))));
            }
            prop_assert!(!is_public(IpAddr::V4(Ipv4Addr::new(169, 254, c, d))));
            prop_assert!(!is_public(IpAddr::V4(Ipv4Addr::new(192, 168, c, d))));
        }
    }
}
