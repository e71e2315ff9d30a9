//! Reading an import file one line at a time: the header, then rows or row errors.
//!
//! The file is read line by line rather than through the `csv` crate's reader so that line
//! numbers are exact whatever blank lines there are, and nothing but the current line is held.
//! No field of this format can contain a line break, so a record is a line; quoted fields
//! (`"0123456789"`, with `""` for a quote) are still understood, as a spreadsheet writes them.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::{IMPORT_CSV_HEADER, ImportError, RowError};
use crate::domain::{InsuranceCode, PersonalId, PhoneNumber};

/// One good row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Row {
    pub line: u64,
    pub code: InsuranceCode,
    pub phone: PhoneNumber,
    /// None keeps the personal ID on record.
    pub personal_id: Option<PersonalId>,
    pub registered: bool,
}

/// Lines of an import file, read in order.
pub(super) struct RowReader<R> {
    reader: R,
    buffer: Vec<u8>,
    /// The line last read (the header is line 1).
    line: u64,
    bytes_read: u64,
}

impl<R: AsyncBufRead + Unpin> RowReader<R> {
    /// Reads and checks the header.
    pub async fn new(reader: R) -> Result<RowReader<R>, ImportError> {
        let mut rows = RowReader {
            reader,
            buffer: Vec::with_capacity(256),
            line: 0,
            bytes_read: 0,
        };
        if !rows.read_line().await? {
            return Err(ImportError::Empty);
        }
        let text = String::from_utf8_lossy(&rows.buffer);
        let text = text.trim_start_matches('\u{feff}');
        let fields: Vec<String> = split_fields(text)
            .into_iter()
            .map(|f| f.into_owned())
            .collect();
        match fields.join(",") {
            header if header == IMPORT_CSV_HEADER => Ok(rows),
            header if header.is_empty() => Err(ImportError::Empty),
            found => Err(ImportError::Header { found }),
        }
    }

    /// The next row, good or bad; None at the end of the file. Blank lines are skipped.
    pub async fn next_row(&mut self) -> Result<Option<Result<Row, RowError>>, ImportError> {
        loop {
            if !self.read_line().await? {
                return Ok(None);
            }
            let line = self.line;
            let Ok(text) = std::str::from_utf8(&self.buffer) else {
                return Ok(Some(Err(RowError {
                    line,
                    field: "row",
                    reason: "is not valid UTF-8".into(),
                })));
            };
            if text.trim().is_empty() {
                continue;
            }
            return Ok(Some(parse_row(line, text)));
        }
    }

    /// The code of the next row as a number (None when it is not a valid code), for the first
    /// pass that looks for repeats; None at the end of the file.
    pub async fn next_code(&mut self) -> Result<Option<Option<u64>>, ImportError> {
        loop {
            if !self.read_line().await? {
                return Ok(None);
            }
            let Ok(text) = std::str::from_utf8(&self.buffer) else {
                return Ok(Some(None));
            };
            if text.trim().is_empty() {
                continue;
            }
            let first = split_fields(text).into_iter().next().unwrap_or_default();
            return Ok(Some(
                InsuranceCode::parse(&first)
                    .ok()
                    .and_then(|code| code_number(&code)),
            ));
        }
    }

    /// Bytes of the file read so far, for the progress estimate.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Reads the next line into the buffer without its line ending; false at the end.
    async fn read_line(&mut self) -> Result<bool, ImportError> {
        self.buffer.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buffer)
            .await
            .map_err(ImportError::Read)?;
        if n == 0 {
            return Ok(false);
        }
        self.bytes_read += n as u64;
        self.line += 1;
        while matches!(self.buffer.last(), Some(b'\n' | b'\r')) {
            self.buffer.pop();
        }
        Ok(true)
    }
}

/// A code as a number: ten digits fit a `u64`, a quarter of the size of the text.
pub(super) fn code_number(code: &InsuranceCode) -> Option<u64> {
    code.as_str().parse().ok()
}

/// The fields of one line, trimmed, quotes removed.
fn split_fields(line: &str) -> Vec<std::borrow::Cow<'_, str>> {
    let mut fields = Vec::with_capacity(4);
    let mut rest = line;
    loop {
        let trimmed = rest.trim_start();
        if let Some(quoted) = trimmed.strip_prefix('"') {
            // A quoted field runs to the next lone quote; `""` inside is one quote.
            let mut value = String::new();
            let mut chars = quoted.char_indices().peekable();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if matches!(chars.peek(), Some((_, '"'))) {
                        chars.next();
                        value.push('"');
                        continue;
                    }
                    end = i + 1;
                    break;
                }
                value.push(c);
            }
            fields.push(std::borrow::Cow::Owned(value.trim().to_owned()));
            let after = &quoted[end.min(quoted.len())..];
            match after.find(',') {
                Some(comma) => rest = &after[comma + 1..],
                None => return fields,
            }
        } else {
            match trimmed.find(',') {
                Some(comma) => {
                    fields.push(std::borrow::Cow::Borrowed(trimmed[..comma].trim()));
                    rest = &trimmed[comma + 1..];
                }
                None => {
                    fields.push(std::borrow::Cow::Borrowed(trimmed.trim()));
                    return fields;
                }
            }
        }
    }
}

fn parse_row(line: u64, text: &str) -> Result<Row, RowError> {
    let fields = split_fields(text);
    let error = |field: &'static str, reason: String| RowError {
        line,
        field,
        reason,
    };
    if fields.len() != 4 {
        return Err(error(
            "row",
            format!(
                "has {} fields, expected 4 ({IMPORT_CSV_HEADER})",
                fields.len()
            ),
        ));
    }
    let code = InsuranceCode::parse(&fields[0]).map_err(|e| error("code", e.to_string()))?;
    let phone = PhoneNumber::parse(&fields[1]).map_err(|e| error("phone", e.to_string()))?;
    let personal_id = match &*fields[2] {
        "" => None,
        text => Some(PersonalId::parse(text).map_err(|e| error("personal_id", e.to_string()))?),
    };
    let registered = parse_registered(&fields[3]).ok_or_else(|| {
        error(
            "registered",
            "must be true/false, 1/0 or yes/no (empty means true)".to_owned(),
        )
    })?;
    Ok(Row {
        line,
        code,
        phone,
        personal_id,
        registered,
    })
}

fn parse_registered(text: &str) -> Option<bool> {
    const TRUE: [&str; 4] = ["", "true", "1", "yes"];
    const FALSE: [&str; 3] = ["false", "0", "no"];
    if TRUE.iter().any(|t| text.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if FALSE.iter().any(|f| text.eq_ignore_ascii_case(f)) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_split_trimmed_and_unquoted() {
        assert_eq!(split_fields(" a , b,,d "), ["a", "b", "", "d"]);
        assert_eq!(
            split_fields(r#""0123456789", "a,""b""" ,x"#),
            ["0123456789", r#"a,"b""#, "x"]
        );
        assert_eq!(split_fields(""), [""]);
    }

    #[tokio::test]
    async fn lines_are_counted_across_blank_lines_and_crlf() {
        let text = "code,phone,personal_id,registered\r\n\r\n\n0123456789,0912345678,,1\r\nx\n";
        let mut rows = RowReader::new(text.as_bytes()).await.unwrap();
        let first = rows.next_row().await.unwrap().unwrap().unwrap();
        assert_eq!(first.line, 4);
        let bad = rows.next_row().await.unwrap().unwrap().unwrap_err();
        assert_eq!(bad.line, 5);
        assert!(rows.next_row().await.unwrap().is_none());
        assert_eq!(rows.bytes_read(), text.len() as u64);
    }

    #[tokio::test]
    async fn a_line_that_is_not_utf8_is_a_row_error() {
        let mut text = b"code,phone,personal_id,registered\n0123456789,09123".to_vec();
        text.extend_from_slice(b"\xff\xfe,,\n");
        let mut rows = RowReader::new(&text[..]).await.unwrap();
        let bad = rows.next_row().await.unwrap().unwrap().unwrap_err();
        assert_eq!(bad.to_string(), "line 2: row: is not valid UTF-8");
    }
}
