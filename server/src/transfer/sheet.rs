//! A spreadsheet saved as CSV, as people's tools save them: UTF-8 with or without a byte-order
//! mark, columns separated by commas or by semicolons (what spreadsheet programs write where the
//! comma is the decimal sign), quoted cells with separators and line breaks inside.

use crate::error::Error;

/// The cells of a CSV file: its header and its rows, each with the line it starts on.
#[derive(Debug)]
pub struct Sheet {
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
    /// Semicolon-separated: commas in numbers are decimal commas.
    pub decimal_comma: bool,
}

#[derive(Debug)]
pub struct Row {
    /// The line of the file the row starts on (the header is line 1).
    pub line: u64,
    pub cells: Vec<String>,
}

/// The separator of a CSV file: whichever of comma and semicolon its first line has more of,
/// outside quotes.
fn separator(text: &str) -> u8 {
    let first = text.lines().next().unwrap_or("");
    let (mut commas, mut semicolons, mut quoted) = (0, 0, false);
    for c in first.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => commas += 1,
            ';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas {
        b';'
    } else {
        b','
    }
}

fn invalid(message: String) -> Error {
    Error::bad_request("invalid_file", message)
}

/// Reads a CSV file's bytes. Rows whose number of cells differs from the header's are kept, and
/// reported by the plan with their line.
pub fn read(bytes: &[u8]) -> Result<Sheet, Error> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        invalid(format!(
            "line {line} is not UTF-8 text; save the file as CSV UTF-8"
        ))
    })?;
    let sep = separator(text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(sep)
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| invalid(format!("the header line does not read as CSV: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err(invalid("the file has no header line".into()));
    }
    let mut rows = Vec::new();
    // Lines counted from byte offsets, incrementally: csv's own line number is where it began
    // reading, before the blank lines it skips.
    let (mut counted_to, mut line) = (0usize, 1u64);
    for record in reader.records() {
        let record = record.map_err(|e| invalid(format!("the file does not read as CSV: {e}")))?;
        let mut start = record.position().map_or(counted_to, |p| p.byte() as usize);
        start += text.as_bytes()[start..]
            .iter()
            .take_while(|b| matches!(b, b'\n' | b'\r'))
            .count();
        line += text.as_bytes()[counted_to..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        counted_to = start;
        // A blank line (or one of empty cells) is no row: spreadsheets leave them at the end.
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        rows.push(Row {
            line,
            cells: record.iter().map(|c| c.trim().to_string()).collect(),
        });
    }
    Ok(Sheet {
        headers,
        rows,
        decimal_comma: sep == b';',
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_semicolon_file_with_a_byte_order_mark_reads() {
        let sheet =
            read("\u{feff}Code;Name;Credit\n1;\"Café; Bar\";1.234,50\n\n2;Shop;\n".as_bytes())
                .unwrap();
        assert_eq!(sheet.headers, ["Code", "Name", "Credit"]);
        assert!(sheet.decimal_comma);
        assert_eq!(sheet.rows.len(), 2);
        assert_eq!(sheet.rows[0].cells, ["1", "Café; Bar", "1.234,50"]);
        assert_eq!((sheet.rows[0].line, sheet.rows[1].line), (2, 4));
    }

    #[test]
    fn a_comma_file_with_quoted_line_breaks_reads() {
        let sheet = read(b"code,notes\n1,\"two\nlines\"\n2,x\n").unwrap();
        assert!(!sheet.decimal_comma);
        assert_eq!(sheet.rows[0].cells[1], "two\nlines");
        assert_eq!(sheet.rows[1].line, 4);
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_with_its_line() {
        let error = read(b"code,name\n1,caf\xe9\n").unwrap_err();
        assert!(error.to_string().contains("line 2"), "{error}");
    }
}
