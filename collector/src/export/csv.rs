//! Asset lists as CSV: a stable column set (new columns go at the end, so scripts that read by
//! position keep working), quoting by the `csv` crate, and cells that a spreadsheet would run
//! as formulas turned into text.

use std::borrow::Cow;

use crate::store::assets::AssetSummary;

/// The header row, in column order.
pub const COLUMNS: [&str; 13] = [
    "id",
    "name",
    "kind",
    "site",
    "manufacturer",
    "model",
    "serial",
    "uuid",
    "os",
    "ip_addresses",
    "mac_addresses",
    "first_seen",
    "last_seen",
];

/// Spreadsheets evaluate a cell starting with one of these (OWASP "CSV injection"): a host
/// name like `=HYPERLINK(...)` set by whoever controls the PC must not run on the admin's desk.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// The cell as text a spreadsheet will not evaluate: a leading `'` where it would.
pub fn defuse(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// One asset's cells, in [`COLUMNS`] order. Lists are space-separated (no address or MAC
/// contains a space).
pub fn record(a: &AssetSummary) -> [String; COLUMNS.len()] {
    let text = |v: &Option<String>| defuse(v.as_deref().unwrap_or("")).into_owned();
    [
        a.id.to_string(),
        text(&a.name),
        defuse(&a.kind).into_owned(),
        defuse(&a.site).into_owned(),
        text(&a.manufacturer),
        text(&a.model),
        text(&a.serial),
        text(&a.uuid),
        text(&a.os),
        defuse(&a.ip_addresses.join(" ")).into_owned(),
        defuse(&a.mac_addresses.join(" ")).into_owned(),
        defuse(&a.first_seen).into_owned(),
        defuse(&a.last_seen).into_owned(),
    ]
}

/// A batch of rows as CSV bytes, with the header first when `header` is set. CRLF line ends,
/// as RFC 4180 and spreadsheets expect.
pub fn encode(assets: &[AssetSummary], header: bool) -> Vec<u8> {
    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(assets.len() * 160 + 160));
    // Writing to a Vec cannot fail.
    if header {
        w.write_record(COLUMNS).expect("write to memory");
    }
    for a in assets {
        w.write_record(record(a)).expect("write to memory");
    }
    w.into_inner().expect("flush to memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(name: &str) -> AssetSummary {
        AssetSummary {
            id: 42,
            name: Some(name.into()),
            kind: "computer".into(),
            site: "chu-nord".into(),
            serial: None,
            uuid: None,
            manufacturer: Some("HP".into()),
            model: None,
            os: None,
            ip_addresses: vec!["198.18.0.10".into(), "fe80::1".into()],
            mac_addresses: vec!["00:1a:2b:3c:4d:01".into()],
            first_seen: "2026-01-01T00:00:00.000000Z".into(),
            last_seen: "2026-01-02T00:00:00.000000Z".into(),
            entity_id: 1,
            entity: "Default".into(),
        }
    }

    #[test]
    fn formula_cells_are_defused() {
        for (cell, want) in [
            ("=1+1", "'=1+1"),
            ("+33 1 23", "'+33 1 23"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("pc-0001", "pc-0001"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(defuse(cell), want, "{cell:?}");
        }
    }

    #[test]
    fn hostile_values_round_trip_through_a_csv_reader() {
        let hostile = [
            "plain",
            "comma, inside",
            "quote \" inside",
            "new\nline",
            "cr\r\nlf",
            "=cmd|'/c calc'!A1",
            "",
        ];
        let assets: Vec<AssetSummary> = hostile.iter().map(|n| asset(n)).collect();
        let bytes = encode(&assets, true);
        let mut r = ::csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(bytes.as_slice());
        assert_eq!(r.headers().unwrap(), COLUMNS.as_slice());
        let rows: Vec<::csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), hostile.len());
        for (row, name) in rows.iter().zip(hostile) {
            assert_eq!(row.len(), COLUMNS.len());
            assert_eq!(&row[1], defuse(name), "{name:?}");
            assert_eq!(&row[0], "42");
            assert_eq!(&row[9], "198.18.0.10 fe80::1");
            assert_eq!(&row[6], "", "unknown is an empty cell");
        }
    }

    #[test]
    fn header_only_when_asked() {
        let with = encode(&[asset("a")], true);
        let without = encode(&[asset("a")], false);
        assert!(with.starts_with(b"id,name,kind,site,"));
        assert!(without.starts_with(b"42,a,computer,"));
        assert!(without.ends_with(b"\r\n"));
        assert_eq!(encode(&[], true), b"id,name,kind,site,manufacturer,model,serial,uuid,os,ip_addresses,mac_addresses,first_seen,last_seen\r\n");
        assert!(encode(&[], false).is_empty());
    }
}
