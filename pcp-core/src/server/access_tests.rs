//! Tests of the access rules.
use super::*;

fn ip(s: &str) -> Peer {
    Peer::Ip(s.parse().unwrap())
}

const FETCH: Ops = Ops {
    fetch: true,
    store: false,
};
const ALL: Ops = Ops {
    fetch: true,
    store: true,
};
const NONE: Ops = Ops {
    fetch: false,
    store: false,
};

#[test]
fn by_default_fetch_is_allowed_and_store_is_not() {
    let a = Access::default();
    assert_eq!(a.ops(ip("10.0.0.1")), FETCH);
    assert_eq!(a.ops(Peer::Unix), FETCH);
    assert_eq!(a.with_store_allowed().ops(ip("10.0.0.1")), ALL);
}

#[test]
fn pmcds_stock_rules_allow_store_on_the_unix_socket_only() {
    let a = Access::parse(
        "[access]\ndisallow \".*\" : store;\ndisallow \":*\" : store;\nallow \"local:*\" : all;\n",
    )
    .unwrap();
    assert_eq!(a.ops(Peer::Unix), ALL);
    assert_eq!(a.ops(ip("127.0.0.1")), ALL);
    assert_eq!(a.ops(ip("192.168.1.9")), FETCH);
    assert_eq!(a.ops(ip("fe80::1")), FETCH);
}

#[test]
fn more_specific_statements_win() {
    let a = Access::parse(
        "disallow hosts * : all;\n\
         disallow hosts 129.127.112.* : all except fetch;\n\
         allow host 129.127.112.2 : all;",
    )
    .unwrap();
    assert_eq!(a.ops(ip("129.127.112.2")), ALL);
    assert_eq!(a.ops(ip("129.127.112.3")), FETCH);
    assert_eq!(a.ops(ip("10.9.9.9")), NONE);
    assert_eq!(a.admit(ip("10.9.9.9")).unwrap_err(), PmError::PERMISSION);
    assert_eq!(a.ops(ip("::ffff:129.127.112.2")), ALL);
}

#[test]
fn ipv6_wildcards() {
    let a = Access::parse(r#"disallow "fe80:*" : fetch; allow "fe80::223:14ff:feaf:*" : fetch;"#)
        .unwrap();
    assert!(!a.ops(ip("fe80::1")).fetch);
    assert!(a.ops(ip("fe80::223:14ff:feaf:b62c")).fetch);
    assert!(a.ops(ip("2001:db8::1")).fetch);
}

#[test]
fn connection_limits_count_and_release() {
    let a = Access::parse("allow localhost : all, maximum 2 connections;").unwrap();
    let one = a.admit(ip("127.0.0.1")).unwrap();
    let two = a.admit(ip("127.0.0.1")).unwrap();
    assert_eq!(a.admit(ip("127.0.0.1")).unwrap_err(), PmError::CONNLIMIT);
    assert!(
        a.admit(ip("10.0.0.1")).is_ok(),
        "other hosts are not limited"
    );
    drop(one);
    let _three = a.admit(ip("127.0.0.1")).unwrap();
    drop(two);
}

#[test]
fn bad_statements_are_reported_with_their_number() {
    for (text, n) in [
        ("allow *: fetch; permit * : all;", 2),
        ("allow users root : all;", 1),
        ("allow 129.*.114.9 : all;", 1),
        ("allow 10.1.* : dance;", 1),
        ("disallow * : maximum 3 connections;", 1),
        ("allow * fetch;", 1),
    ] {
        match Access::parse(text) {
            Err(AccessError::Syntax { statement, .. }) => assert_eq!(statement, n, "{text}"),
            Ok(_) => panic!("{text} accepted"),
        }
    }
}
