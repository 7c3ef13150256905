//! Expected texts are PostgreSQL 15's, from `psql` against a real server.

use super::*;

fn pg(text: &str) -> String {
    interval_out(
        interval_in(text).unwrap_or_else(|| panic!("{text:?} should parse")),
        IntervalStyle::Postgres,
    )
}

#[test]
fn interval_input_and_postgres_output_match_postgres() {
    let cases = [
        ("1 day 2 hours 3.5 seconds", "1 day 02:00:03.5"),
        ("14 months", "1 year 2 mons"),
        ("-1 day", "-1 days"),
        ("-1 days +02:00:00", "-1 days +02:00:00"),
        ("1 day -02:00:00", "1 day -02:00:00"),
        ("@ 1 day 2 hours ago", "-1 days -02:00:00"),
        ("1.5 days", "1 day 12:00:00"),
        ("1.5 months", "1 mon 15 days"),
        ("1.5 years", "1 year 6 mons"),
        ("90 min", "01:30:00"),
        ("3h", "03:00:00"),
        ("10", "00:00:10"),
        ("1:30", "01:30:00"),
        ("1:30.5", "00:01:30.5"),
        ("-1:30:00", "-01:30:00"),
        ("P1Y2M3DT4H5M6.5S", "1 year 2 mons 3 days 04:05:06.5"),
        ("PT0S", "00:00:00"),
        ("P1W", "7 days"),
        ("0", "00:00:00"),
        ("1 week 2 days", "9 days"),
        ("2 weeks ago", "-14 days"),
        ("1 year -1 month", "11 mons"),
        ("-1 year -2 mons", "-1 years -2 mons"),
        ("100 hours", "100:00:00"),
        ("0.000001 sec", "00:00:00.000001"),
        ("1 millisecond", "00:00:00.001"),
        ("1 decade", "10 years"),
        ("1 century", "100 years"),
    ];
    for (input, want) in cases {
        assert_eq!(pg(input), want, "{input}");
    }
    assert_eq!(pg("1 day 2"), "1 day 00:00:02");
    for bad in [
        "",
        "abc",
        "1 fortnight",
        "1 day 2 3",
        "P1X",
        "PT",
        "1:2:3:4",
        "@",
    ] {
        assert_eq!(interval_in(bad), None, "{bad:?}");
    }
}

#[test]
fn interval_styles_match_postgres() {
    let inputs = [
        "1 day 2 hours 3.5 seconds",
        "14 months",
        "-1 day",
        "-1 days +02:00:00",
        "1 day -02:00:00",
        "-1 days -02:00:00",
        "1 year 2 mons 3 days 04:05:06.5",
        "0",
        "-1 year -2 mons",
        "1 year -1 mon",
        "-00:00:01.5",
        "1 sec",
        "100:00:00",
        "-14 days",
        "1 mon -1 day",
    ];
    let verbose = [
        "@ 1 day 2 hours 3.5 secs",
        "@ 1 year 2 mons",
        "@ 1 day ago",
        "@ 1 day -2 hours ago",
        "@ 1 day -2 hours",
        "@ 1 day 2 hours ago",
        "@ 1 year 2 mons 3 days 4 hours 5 mins 6.5 secs",
        "@ 0",
        "@ 1 year 2 mons ago",
        "@ 11 mons",
        "@ 1.5 secs ago",
        "@ 1 sec",
        "@ 100 hours",
        "@ 14 days ago",
        "@ 1 mon -1 days",
    ];
    let sql_standard = [
        "1 2:00:03.5",
        "1-2",
        "-1 0:00:00",
        "+0-0 -1 +2:00:00",
        "+0-0 +1 -2:00:00",
        "-1 2:00:00",
        "+1-2 +3 +4:05:06.5",
        "0",
        "-1-2",
        "0-11",
        "-0:00:01.5",
        "0:00:01",
        "100:00:00",
        "-14 0:00:00",
        "+0-1 -1 +0:00:00",
    ];
    let iso = [
        "P1DT2H3.5S",
        "P1Y2M",
        "P-1D",
        "P-1DT2H",
        "P1DT-2H",
        "P-1DT-2H",
        "P1Y2M3DT4H5M6.5S",
        "PT0S",
        "P-1Y-2M",
        "P11M",
        "PT-1.5S",
        "PT1S",
        "PT100H",
        "P-14D",
        "P1M-1D",
    ];
    for (i, input) in inputs.iter().enumerate() {
        let v = interval_in(input).unwrap();
        assert_eq!(interval_out(v, IntervalStyle::PostgresVerbose), verbose[i]);
        assert_eq!(interval_out(v, IntervalStyle::SqlStandard), sql_standard[i]);
        assert_eq!(interval_out(v, IntervalStyle::Iso8601), iso[i]);
    }
}

#[test]
fn time_matches_postgres() {
    let cases = [
        ("12:34:56.789", "12:34:56.789"),
        ("24:00:00", "24:00:00"),
        ("1:02 pm", "13:02:00"),
        ("12:00 am", "00:00:00"),
        ("allballs", "00:00:00"),
        ("23:59:59.9999999", "24:00:00"),
    ];
    for (input, want) in cases {
        assert_eq!(time_out(time_in(input).unwrap()), want, "{input}");
    }
    for (bad, code) in [
        ("25:00", "22008"),
        ("12:60", "22008"),
        ("24:00:01", "22008"),
        ("13:00 pm", "22007"),
        ("noon", "22007"),
        ("1:2:3:4", "22007"),
    ] {
        assert_eq!(time_in(bad).unwrap_err().sqlstate(), code, "{bad}");
    }
}

#[test]
fn bytea_matches_postgres() {
    assert_eq!(bytea_in("\\x0102ff").unwrap(), [1, 2, 255]);
    assert_eq!(bytea_in("\\x 01 02").unwrap(), [1, 2]);
    assert_eq!(bytea_in("a\\\\b\\001c").unwrap(), b"a\\b\x01c");
    assert_eq!(bytea_out(&[1, 2, 255], false), "\\x0102ff");
    assert_eq!(bytea_out(b"a\\b\x01c", false), "\\x615c620163");
    assert_eq!(bytea_out(b"\x01\x02\xffA\\", true), "\\001\\002\\377A\\\\");
    assert_eq!(bytea_in("\\x0").unwrap_err().sqlstate(), "22023");
    assert_eq!(bytea_in("\\xzz").unwrap_err().sqlstate(), "22023");
    assert_eq!(bytea_in("a\\9").unwrap_err().sqlstate(), "22P02");
}

#[test]
fn uuid_matches_postgres() {
    let canonical = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    for input in [
        canonical,
        "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
        "{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}",
        "a0eebc999c0b4ef8bb6d6bb9bd380a11",
        "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
        "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
    ] {
        assert_eq!(uuid_out(&uuid_in(input).unwrap()), canonical, "{input}");
    }
    for bad in [
        "",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
        "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11",
        "a0eeb-c99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "-a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-",
        "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    ] {
        assert_eq!(uuid_in(bad).unwrap_err().sqlstate(), "22P02", "{bad:?}");
    }
}

#[test]
fn interval_arithmetic_matches_postgres() {
    let mul = |text: &str, f: f64| {
        interval_out(
            interval_mul(interval_in(text).unwrap(), f).unwrap(),
            IntervalStyle::Postgres,
        )
    };
    assert_eq!(mul("1 day", 2.0), "2 days");
    assert_eq!(mul("1 mon", 1.5), "1 mon 15 days");
    assert_eq!(mul("1 day 02:00", 0.5), "13:00:00");
    assert_eq!(mul("90 min", 2.0), "03:00:00");
    assert_eq!(mul("1 year", 1.0 / 3.0), "4 mons");
    assert_eq!(mul("1 mon 1 day", 1.1), "1 mon 4 days 02:24:00");
    assert_eq!(mul("-1 day", 1.5), "-1 days -12:00:00");
    assert_eq!(mul("1 hour", 1.0 / 7.0), "00:08:34.285714");
}
