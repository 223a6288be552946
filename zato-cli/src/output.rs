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

/// Prints a list of objects as a table of the given fields. A field may be a path into
/// nested objects, `figures.depth`, shown under its last part, `depth`.
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
        .map(|item| fields.iter().map(|f| cell(field(item, f))).collect())
        .collect();
    let headers: Vec<&str> = fields
        .iter()
        .map(|f| f.rsplit_once('.').map_or(*f, |(_, last)| last))
        .collect();
    table(&headers, &rows);
}

/// The value at `path` (`figures.depth`) in `item`, when every step is there.
pub fn field<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(item, |value, step| value.get(step))
}

/// A rate per second as a cell: one decimal, `-` when unknown (a server that has not
/// measured it yet).
pub fn rate(value: Option<&Value>) -> String {
    value
        .and_then(Value::as_f64)
        .map_or_else(|| "-".into(), |rate| format!("{rate:.1}"))
}

/// An age or duration in milliseconds as a cell a person reads at a glance: `850ms`,
/// `12.5s`, `4m05s`, `3h20m`, `2d07h`; `-` when there is none.
pub fn age(value: Option<&Value>) -> String {
    let Some(ms) = value.and_then(Value::as_f64).filter(|ms| *ms >= 0.0) else {
        return "-".into();
    };
    // Whole milliseconds are precise enough for anything shown here.
    let ms = ms.round() as u64;
    let seconds = ms / 1000;
    match seconds {
        0 => format!("{ms}ms"),
        1..60 => format!("{:.1}s", ms as f64 / 1000.0),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        3600..86_400 => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d{:02}h", seconds / 86_400, seconds % 86_400 / 3600),
    }
}

/// A service's response for a person: text as it is, JSON pretty.
pub fn print_response(value: &Value) {
    match value {
        Value::String(text) => println!("{text}"),
        Value::Null => {}
        other => print_json(other),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nested_fields_are_found() {
        let item = json!({"name": "orders", "figures": {"depth": 3}});
        assert_eq!(field(&item, "figures.depth"), Some(&json!(3)));
        assert_eq!(field(&item, "name"), Some(&json!("orders")));
        assert_eq!(field(&item, "figures.nope"), None);
        assert_eq!(field(&item, "name.depth"), None);
    }

    #[test]
    fn ages_and_rates_read_at_a_glance() {
        assert_eq!(age(Some(&json!(850))), "850ms");
        assert_eq!(age(Some(&json!(12_500))), "12.5s");
        assert_eq!(age(Some(&json!(245_000))), "4m05s");
        assert_eq!(age(Some(&json!(12_000_000))), "3h20m");
        assert_eq!(age(Some(&json!(198_000_000))), "2d07h");
        assert_eq!(age(Some(&Value::Null)), "-");
        assert_eq!(age(None), "-");
        assert_eq!(rate(Some(&json!(2.26))), "2.3");
        assert_eq!(rate(Some(&Value::Null)), "-");
    }
}
