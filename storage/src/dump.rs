//! `strata-tools dump FILE`: every row and every stored value of any file Strata writes, as
//! text, so that what a file holds (or no longer holds, after an erasure) can be checked
//! without trusting the server.
//!
//! The kind of file is told by its first bytes (`storage/FORMAT.md`): a WAL segment (each
//! record, and each row of a write batch), a segment (its tag dictionaries, then every row),
//! a cold Parquet object (its key-value metadata, each column chunk's statistics, then every
//! row), the catalog and `erasures.log` (their JSON, indented), and `SUBJECT_KEY` (its
//! length only: it is a secret).

use std::io::Write;
use std::path::Path;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::batch::{FieldData, WriteBatch};
use crate::error::{Error, Result};
use crate::segment::Segment;

/// Writes what `path` holds to `out`.
pub fn dump_file(path: &Path, out: &mut dyn Write) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let io = |e: std::io::Error| Error::io(path, e);
    if bytes.starts_with(strata_wal::SEGMENT_MAGIC) {
        dump_wal(path, &bytes, out)
    } else if bytes.starts_with(b"STRATSEG") {
        dump_segment(path, out)
    } else if bytes.starts_with(b"PAR1") {
        dump_parquet(path, out)
    } else if bytes.starts_with(b"STRATCAT") && bytes.len() >= 24 {
        writeln!(out, "catalog version {}", u32_at(&bytes, 8)).map_err(io)?;
        json(&bytes[24..], out).map_err(io)
    } else if bytes.starts_with(b"STRATERL") && bytes.len() >= 12 {
        writeln!(out, "erasure receipts version {}", u32_at(&bytes, 8)).map_err(io)?;
        let mut at = 12;
        while at + 8 <= bytes.len() {
            let len = u32_at(&bytes, at) as usize;
            let Some(body) = bytes.get(at + 8..at + 8 + len) else {
                writeln!(out, "torn record at offset {at}").map_err(io)?;
                break;
            };
            json(body, out).map_err(io)?;
            at += 8 + len;
        }
        Ok(())
    } else if path.file_name().is_some_and(|n| n == "SUBJECT_KEY") {
        writeln!(out, "subject key: {} bytes (not shown)", bytes.len()).map_err(io)
    } else {
        Err(Error::Corruption {
            file: path.to_path_buf(),
            offset: 0,
            reason: "not a file Strata writes (unknown magic bytes)".into(),
        })
    }
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn json(body: &[u8], out: &mut dyn Write) -> std::io::Result<()> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        ),
        Err(e) => writeln!(
            out,
            "unreadable JSON ({e}): {}",
            String::from_utf8_lossy(body)
        ),
    }
}

/// Each record of a WAL segment; a write batch's rows one per line.
fn dump_wal(path: &Path, bytes: &[u8], out: &mut dyn Write) -> Result<()> {
    let io = |e: std::io::Error| Error::io(path, e);
    let mut at = strata_wal::SEGMENT_HEADER_LEN;
    while at + strata_wal::RECORD_HEADER_LEN <= bytes.len() {
        let len = u32_at(bytes, at + 4) as usize;
        let lsn = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().expect("8 bytes"));
        let kind = bytes[at + 16];
        let start = at + strata_wal::RECORD_HEADER_LEN;
        let Some(payload) = bytes.get(start..start + len) else {
            writeln!(out, "offset {at}: torn record").map_err(io)?;
            break;
        };
        if lsn == 0 && len == 0 {
            break; // zeroed tail
        }
        let ok = crc32fast::hash(&bytes[at + 4..at + 21]) == u32_at(bytes, at)
            && crc32fast::hash(payload) == u32_at(bytes, at + 17);
        writeln!(
            out,
            "record lsn={lsn} kind={kind} bytes={len}{}",
            if ok { "" } else { " (checksum mismatch)" }
        )
        .map_err(io)?;
        if kind == crate::batch::WAL_KIND_WRITE {
            match WriteBatch::decode(payload) {
                Ok((batch, table_id)) => dump_batch(&batch, table_id, out).map_err(io)?,
                Err(e) => writeln!(out, "  undecodable write batch: {e}").map_err(io)?,
            }
        } else if kind == crate::group::WAL_KIND_GROUP {
            match crate::group::decode_part(payload) {
                Ok(part) => {
                    writeln!(
                        out,
                        "  write group {}{}",
                        if part.group == 0 {
                            "start".to_owned()
                        } else {
                            format!("of lsn {}", part.group)
                        },
                        if part.last { ", last record" } else { "" }
                    )
                    .map_err(io)?;
                    for (batch, table_id) in &part.batches {
                        dump_batch(batch, *table_id, out).map_err(io)?;
                    }
                }
                Err(e) => writeln!(out, "  undecodable write group: {e}").map_err(io)?,
            }
        }
        at = start + len;
    }
    Ok(())
}

fn dump_batch(b: &WriteBatch, table_id: Option<u64>, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "  table={} id={}",
        b.table,
        table_id.map_or("-".into(), |i| i.to_string())
    )?;
    for row in 0..b.ts.len() {
        let mut line = format!("  time={}", b.ts[row]);
        let series = &b.series[b.row_series[row] as usize];
        for (name, v) in b.tag_names.iter().zip(series) {
            line.push_str(&format!(" {name}={}", v.as_deref().unwrap_or("NULL")));
        }
        for f in &b.fields {
            let valid = f.validity.as_ref().is_none_or(|v| v[row]);
            let value = if !valid {
                "NULL".to_owned()
            } else {
                match &f.data {
                    FieldData::Float(d) => d[row].to_string(),
                    FieldData::Integer(d) => d[row].to_string(),
                    FieldData::Boolean(d) => d[row].to_string(),
                    FieldData::Text(d) => format!("{:?}", d[row]),
                    FieldData::Bytes(d) => d[row].iter().fold("\\x".to_owned(), |mut s, b| {
                        s.push_str(&format!("{b:02x}"));
                        s
                    }),
                }
            };
            line.push_str(&format!(" {}={value}", f.name));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// A segment's dictionaries, then every row of every block.
fn dump_segment(path: &Path, out: &mut dyn Write) -> Result<()> {
    let io = |e: std::io::Error| Error::io(path, e);
    let seg = Segment::open(path)?;
    let meta = seg.meta();
    writeln!(
        out,
        "segment rows={} time=[{}, {}] max_lsn={}",
        meta.rows, meta.min_ts, meta.max_ts, meta.max_lsn
    )
    .map_err(io)?;
    for d in &meta.tags {
        writeln!(
            out,
            "dictionary {}: {:?}",
            meta.columns[d.column].0, d.values
        )
        .map_err(io)?;
    }
    let names: Vec<&str> = meta.columns.iter().map(|(n, _)| n.as_str()).collect();
    for b in 0..meta.blocks.len() {
        let cols = (0..names.len())
            .map(|c| seg.read_column(b, c))
            .collect::<Result<Vec<_>>>()?;
        rows(&names, &cols, out).map_err(io)?;
    }
    Ok(())
}

/// A Parquet file's metadata, statistics and rows.
fn dump_parquet(path: &Path, out: &mut dyn Write) -> Result<()> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let io = |e: std::io::Error| Error::io(path, e);
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = SerializedFileReader::new(file.try_clone().map_err(|e| Error::io(path, e))?)?;
    let md = reader.metadata();
    writeln!(
        out,
        "parquet rows={} row_groups={}",
        md.file_metadata().num_rows(),
        md.num_row_groups()
    )
    .map_err(io)?;
    for kv in md
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
    {
        writeln!(
            out,
            "metadata {}={}",
            kv.key,
            kv.value.as_deref().unwrap_or("")
        )
        .map_err(io)?;
    }
    for (g, rg) in md.row_groups().iter().enumerate() {
        for c in rg.columns() {
            writeln!(
                out,
                "row group {g} column {}: {:?}",
                c.column_path(),
                c.statistics()
            )
            .map_err(io)?;
        }
    }
    let batches =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    for batch in batches {
        let batch: RecordBatch = batch?;
        let names: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        rows(&names, batch.columns(), out).map_err(io)?;
    }
    Ok(())
}

/// One line per row: `name=value` pairs.
fn rows(names: &[&str], cols: &[ArrayRef], out: &mut dyn Write) -> std::io::Result<()> {
    let options = FormatOptions::default().with_null("NULL");
    // Times print as UTC without a zone name (the formatter knows only offsets).
    let cols: Vec<ArrayRef> = cols
        .iter()
        .map(|c| match c.data_type() {
            arrow::datatypes::DataType::Timestamp(unit, Some(_)) => {
                arrow::compute::cast(c, &arrow::datatypes::DataType::Timestamp(*unit, None))
            }
            _ => Ok(std::sync::Arc::clone(c)),
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(std::io::Error::other)?;
    let formatters: Vec<ArrayFormatter<'_>> = cols
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<std::result::Result<_, _>>()
        .map_err(std::io::Error::other)?;
    let n = cols.first().map_or(0, |c| c.len());
    for row in 0..n {
        let mut line = String::new();
        for (name, f) in names.iter().zip(&formatters) {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&format!("{name}={}", f.value(row)));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}
