//! Printing: JSON for scripts (`--json`), aligned text for people.

use serde_json::Value;

/// How to print results.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// In JSON mode, prints `value`; otherwise runs `human`.
    pub fn show(&self, value: &Value, human: impl FnOnce(&Value)) {
        if self.json {
            print_json(value);
        } else {
            human(value);
        }
    }
}

/// Pretty JSON on standard output.
pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

/// A value as a table cell: strings bare, nothing as `-`, the rest as compact JSON.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) if s.is_empty() => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Prints rows under headers, each column as wide as its widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let text: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
}

/// Prints a list of objects as a table of the given fields.
pub fn object_table(items: &Value, fields: &[&str]) {
    let Some(items) = items.as_array() else {
        print_json(items);
        return;
    };
    if items.is_empty() {
        println!("(none)");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| fields.iter().map(|f| cell(item.get(*f))).collect())
        .collect();
    table(fields, &rows);
}

/// A service's response for a person: text as it is, JSON pretty.
pub fn print_response(value: &Value) {
    match value {
        Value::String(text) => println!("{text}"),
        Value::Null => {}
        other => print_json(other),
    }
}
