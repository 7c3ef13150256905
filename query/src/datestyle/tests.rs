//! Expected texts are PostgreSQL 15's, printed by `psql` under each `DateStyle`.

use super::*;

/// 2024-03-05 14:07:08.5 as nanoseconds.
const T: i64 = 1_709_647_628_500_000_000;

fn style(s: &str) -> DateStyle {
    DateStyle::set(s, DateStyle::default()).unwrap()
}

#[test]
fn prints_like_postgres_in_every_style() {
    let day = 19_787; // 2024-03-05
    let bc = date_in("0044-03-15 BC", Order::Mdy).unwrap();
    let tz = 1_709_647_628_000_000_000; // 2024-03-05 14:07:08+00
    let summer = 1_720_188_428_123_456_000; // 2024-07-05 14:07:08.123456+00
    let zone = "America/New_York";
    let cases = [
        (
            "ISO, MDY",
            [
                "2024-03-05",
                "2024-03-05 14:07:08.5",
                "2024-03-05 09:07:08-05",
                "2024-07-05 10:07:08.123456-04",
                "0044-03-15 BC",
            ],
        ),
        (
            "SQL, MDY",
            [
                "03/05/2024",
                "03/05/2024 14:07:08.5",
                "03/05/2024 09:07:08 EST",
                "07/05/2024 10:07:08.123456 EDT",
                "03/15/0044 BC",
            ],
        ),
        (
            "SQL, DMY",
            [
                "05/03/2024",
                "05/03/2024 14:07:08.5",
                "05/03/2024 09:07:08 EST",
                "05/07/2024 10:07:08.123456 EDT",
                "15/03/0044 BC",
            ],
        ),
        (
            "Postgres, MDY",
            [
                "03-05-2024",
                "Tue Mar 05 14:07:08.5 2024",
                "Tue Mar 05 09:07:08 2024 EST",
                "Fri Jul 05 10:07:08.123456 2024 EDT",
                "03-15-0044 BC",
            ],
        ),
        (
            "Postgres, DMY",
            [
                "05-03-2024",
                "Tue 05 Mar 14:07:08.5 2024",
                "Tue 05 Mar 09:07:08 2024 EST",
                "Fri 05 Jul 10:07:08.123456 2024 EDT",
                "15-03-0044 BC",
            ],
        ),
        (
            "German",
            [
                "05.03.2024",
                "05.03.2024 14:07:08.5",
                "05.03.2024 09:07:08 EST",
                "05.07.2024 10:07:08.123456 EDT",
                "15.03.0044 BC",
            ],
        ),
        (
            "SQL, YMD",
            [
                "03/05/2024",
                "03/05/2024 14:07:08.5",
                "03/05/2024 09:07:08 EST",
                "07/05/2024 10:07:08.123456 EDT",
                "03/15/0044 BC",
            ],
        ),
    ];
    for (name, [date, ts, tz_winter, tz_summer, date_bc]) in cases {
        let s = style(name);
        assert_eq!(s.date(day), date, "{name}");
        assert_eq!(s.timestamp(T), ts, "{name}");
        assert_eq!(s.timestamptz(tz, &Zone::resolve(zone)), tz_winter, "{name}");
        assert_eq!(
            s.timestamptz(summer, &Zone::resolve(zone)),
            tz_summer,
            "{name}"
        );
        assert_eq!(s.date(bc), date_bc, "{name}");
    }
}

#[test]
fn abbreviations_follow_the_time_zone_database() {
    let tz = 1_709_647_628_000_000_000; // 2024-03-05 14:07:08+00
    let sql = style("SQL");
    assert_eq!(
        sql.timestamptz(tz, &Zone::resolve("UTC")),
        "03/05/2024 14:07:08 UTC"
    );
    assert_eq!(
        sql.timestamptz(tz, &Zone::resolve("Asia/Dubai")),
        "03/05/2024 18:07:08 +04"
    );
    assert_eq!(
        sql.timestamptz(tz, &Zone::resolve("Asia/Kolkata")),
        "03/05/2024 19:37:08 IST"
    );
    assert_eq!(
        sql.timestamptz(tz, &Zone::resolve("Asia/Kathmandu")),
        "03/05/2024 19:52:08 +0545"
    );
    assert_eq!(
        sql.timestamptz(tz, &Zone::resolve("Europe/Berlin")),
        "03/05/2024 15:07:08 CET"
    );
    assert_eq!(
        sql.timestamptz(tz, &Zone::resolve("America/Sao_Paulo")),
        "03/05/2024 11:07:08 -03"
    );
    let iso = style("ISO");
    assert_eq!(
        iso.timestamptz(tz, &Zone::resolve("Asia/Kolkata")),
        "2024-03-05 19:37:08+05:30"
    );
}

#[test]
fn settings_combine_as_postgres_does() {
    let sql_dmy = style("SQL, DMY");
    assert_eq!(sql_dmy.name(), "SQL, DMY");
    // A part not named is kept; German alone also sets DMY.
    assert_eq!(DateStyle::set("ISO", sql_dmy).unwrap().name(), "ISO, DMY");
    assert_eq!(DateStyle::set("MDY", sql_dmy).unwrap().name(), "SQL, MDY");
    assert_eq!(
        DateStyle::set("German", DateStyle::default())
            .unwrap()
            .name(),
        "German, DMY"
    );
    assert_eq!(
        DateStyle::set("German, MDY", DateStyle::default())
            .unwrap()
            .name(),
        "German, MDY"
    );
    assert_eq!(
        DateStyle::set("euro", DateStyle::default()).unwrap().name(),
        "ISO, DMY"
    );
    assert_eq!(
        DateStyle::set("us, postgres", sql_dmy).unwrap().name(),
        "Postgres, MDY"
    );
    for bad in ["", "ISO, SQL", "MDY, DMY", "klingon"] {
        assert_eq!(DateStyle::set(bad, sql_dmy), None, "{bad:?}");
    }
}

#[test]
fn reads_numeric_dates_in_the_field_order() {
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
    // (text, MDY, DMY, YMD), as PostgreSQL 15 reads them.
    let cases = [
        (
            "03/05/2024",
            Ok(d(2024, 3, 5)),
            Ok(d(2024, 5, 3)),
            Err(BadDate::Range),
        ),
        (
            "03-05-2024",
            Ok(d(2024, 3, 5)),
            Ok(d(2024, 5, 3)),
            Err(BadDate::Range),
        ),
        (
            "03.05.2024",
            Ok(d(2024, 3, 5)),
            Ok(d(2024, 5, 3)),
            Err(BadDate::Range),
        ),
        (
            "2024/03/05",
            Ok(d(2024, 3, 5)),
            Ok(d(2024, 3, 5)),
            Ok(d(2024, 3, 5)),
        ),
        (
            "2024.03.05",
            Ok(d(2024, 3, 5)),
            Ok(d(2024, 3, 5)),
            Ok(d(2024, 3, 5)),
        ),
        (
            "03/05/24",
            Ok(d(2024, 3, 5)),
            Ok(d(2024, 5, 3)),
            Ok(d(2003, 5, 24)),
        ),
        (
            "20240305",
            Ok(d(2024, 3, 5)),
            Ok(d(2024, 3, 5)),
            Ok(d(2024, 3, 5)),
        ),
        (
            "05.03.24",
            Ok(d(2024, 5, 3)),
            Ok(d(2024, 3, 5)),
            Ok(d(2005, 3, 24)),
        ),
        (
            "13/05/2024",
            Err(BadDate::Range),
            Ok(d(2024, 5, 13)),
            Err(BadDate::Range),
        ),
        (
            "2024-3-5",
            Ok(d(2024, 3, 5)),
            Ok(d(2024, 3, 5)),
            Ok(d(2024, 3, 5)),
        ),
        (
            "24-03-05",
            Err(BadDate::Range),
            Ok(d(2005, 3, 24)),
            Ok(d(2024, 3, 5)),
        ),
        (
            "12/31/99",
            Ok(d(1999, 12, 31)),
            Err(BadDate::Range),
            Err(BadDate::Range),
        ),
    ];
    for (text, mdy, dmy, ymd) in cases {
        assert_eq!(date_fields(text, Order::Mdy), mdy, "{text} MDY");
        assert_eq!(date_fields(text, Order::Dmy), dmy, "{text} DMY");
        assert_eq!(date_fields(text, Order::Ymd), ymd, "{text} YMD");
    }
    for bad in [
        "2024",
        "2024-03",
        "2024-03-05-01",
        "a/b/c",
        "2024-03-x5",
        "",
    ] {
        assert_eq!(date_fields(bad, Order::Mdy), Err(BadDate::Syntax), "{bad}");
    }
}

#[test]
fn date_in_reads_the_other_forms() {
    let days =
        |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap().num_days_from_ce() - UNIX_EPOCH_CE;
    assert_eq!(date_in("2024-03-05", Order::Mdy), Ok(days(2024, 3, 5)));
    assert_eq!(
        date_in(" 2024-03-05 10:00 ", Order::Mdy),
        Ok(days(2024, 3, 5))
    );
    assert_eq!(date_in("Mar 5 2024", Order::Dmy), Ok(days(2024, 3, 5)));
    assert_eq!(date_in("epoch", Order::Mdy), Ok(0));
    assert_eq!(date_in("0044-03-15 BC", Order::Mdy), Ok(days(-43, 3, 15)));
    assert_eq!(date_in("2024-02-30", Order::Mdy), Err(BadDate::Range));
    assert_eq!(date_in("someday", Order::Mdy), Err(BadDate::Syntax));
}
