//! The callers of a load run, from the `hotline accounts import` CSV: call k is row k mod rows,
//! calling from the row's phone and keying the row's code.

use std::path::Path;

use crate::domain::InsuranceCode;

/// One caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The From user, as written in the file.
    pub phone: String,
    /// The ten digits to key (then `#`).
    pub code: String,
}

/// Reads the callers; the error says which line is wrong.
pub fn read(path: &Path) -> Result<Vec<Caller>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let headers = reader
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("{}: no `{name}` column in the header", path.display()))
    };
    let (code_at, phone_at) = (column("code")?, column("phone")?);
    let mut callers = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| format!("{} line {line}: {e}", path.display()))?;
        let code = row.get(code_at).unwrap_or("");
        let phone = row.get(phone_at).unwrap_or("");
        InsuranceCode::parse(code)
            .map_err(|e| format!("{} line {line}: code: {e}", path.display()))?;
        if phone.is_empty() || !phone.chars().all(|c| c.is_ascii_digit() || c == '+') {
            return Err(format!(
                "{} line {line}: phone {phone:?} is not a number",
                path.display()
            ));
        }
        callers.push(Caller {
            phone: phone.to_owned(),
            code: code.to_owned(),
        });
    }
    if callers.is_empty() {
        return Err(format!("{}: no accounts", path.display()));
    }
    Ok(callers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn reads_the_import_format() {
        let f = file(
            "code,phone,personal_id,registered\n0200000001,0913000001,,true\n0200000002,+84913000002,,true\n",
        );
        let callers = read(f.path()).unwrap();
        assert_eq!(callers.len(), 2);
        assert_eq!(callers[1].phone, "+84913000002");
        assert_eq!(callers[0].code, "0200000001");
    }

    #[test]
    fn names_the_bad_line() {
        let f = file("code,phone\n0200000001,0913000001\n12345,0913000002\n");
        let e = read(f.path()).unwrap_err();
        assert!(e.contains("line 3: code"), "{e}");
        let f = file("phone\n0913000001\n");
        assert!(read(f.path()).unwrap_err().contains("no `code` column"));
        let f = file("code,phone\n");
        assert!(read(f.path()).unwrap_err().contains("no accounts"));
    }
}
