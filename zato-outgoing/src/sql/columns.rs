//! Which JSON a column becomes, decided by the name of its SQL type.
//!
//! sqlx names every column's type (`column.type_info().name()`): PostgreSQL's in its own
//! upper-case spelling (`INT4`, `TIMESTAMPTZ`, `INT4[]`; user-defined types as created, e.g.
//! `citext` or an enum's name) and MySQL's from the wire type and flags (`INT UNSIGNED`,
//! `BOOLEAN` for `TINYINT(1)`, `VARBINARY` for any `VARCHAR` with a binary flag). One table per
//! engine turns the name into a [`ColumnKind`], and the engine's decoder reads the value as
//! that kind. Keeping the decision a pure function of the name lets it be tested without a
//! database.

use zato_common::model::SqlEngine;

/// How a column's values are read and written as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    /// Always `null` (PostgreSQL `VOID`, MySQL's type of a bare `NULL`).
    Null,
    /// `true`/`false` (PostgreSQL `BOOL`).
    Bool,
    /// A signed integer of any width, as a JSON number.
    Int,
    /// An unsigned integer of any width (MySQL `... UNSIGNED`, `YEAR`, `BIT`; PostgreSQL `OID`).
    UInt,
    /// A 4-byte float, as the shortest decimal that reads back as the same float.
    Float32,
    /// An 8-byte float; NaN and infinities, which JSON lacks, become `null`.
    Float64,
    /// `NUMERIC`/`DECIMAL`, as a string with the column's scale (`"12.50"`): lossless, where a
    /// JSON number would be an f64 to most readers.
    Decimal,
    /// A string.
    Text,
    /// MySQL's string and blob types, which share wire types: text unless the column's
    /// collation is `binary`, then bytes.
    TextOrBytes,
    /// Bytes, as a standard base64 string.
    Bytes,
    /// `JSON`: the value itself.
    Json,
    /// PostgreSQL `JSONB` (its binary form carries a version byte first).
    Jsonb,
    /// `UUID`, hyphenated lower case.
    Uuid,
    /// `"YYYY-MM-DD"`.
    Date,
    /// `"HH:MM:SS[.ffffff]"` (MySQL `TIME` may be negative or beyond 24 hours).
    Time,
    /// PostgreSQL `TIMETZ`: `"HH:MM:SS[.ffffff]+HH:MM"`.
    TimeTz,
    /// A timestamp without a zone: `"YYYY-MM-DDTHH:MM:SS[.ffffff]"`.
    Timestamp,
    /// A point in time, in UTC: `"YYYY-MM-DDTHH:MM:SS[.ffffff]Z"`.
    TimestampTz,
    /// PostgreSQL `INTERVAL`, as an ISO 8601 duration (`"P1Y2M3DT4H5M6.5S"`).
    Interval,
    /// PostgreSQL `INET`/`CIDR`, as PostgreSQL writes them.
    Inet,
    /// PostgreSQL `MACADDR`/`MACADDR8`.
    MacAddr,
    /// PostgreSQL `BIT`/`VARBIT`, as a string of `0` and `1`.
    BitString,
    /// A one-dimensional PostgreSQL array, as a JSON array of its elements' JSON.
    Array,
    /// No mapping: read as a string if the value is text, else a decode error that names
    /// the column and the type.
    Other,
}

/// The kind of a column of type `type_name` on `engine`.
pub(crate) fn classify(engine: SqlEngine, type_name: &str) -> ColumnKind {
    // Built-in names are upper case already; user-defined PostgreSQL types (`citext`) are not.
    let upper;
    let name = if type_name.bytes().any(|b| b.is_ascii_lowercase()) {
        upper = type_name.to_ascii_uppercase();
        upper.as_str()
    } else {
        type_name
    };
    match engine {
        SqlEngine::Postgresql => postgres(name),
        SqlEngine::Mysql => mysql(name),
    }
}

fn postgres(name: &str) -> ColumnKind {
    use ColumnKind::*;
    if name.ends_with("[]") {
        return Array;
    }
    match name {
        "VOID" => Null,
        "BOOL" => Bool,
        "INT2" | "INT4" | "INT8" => Int,
        "OID" => UInt,
        "FLOAT4" => Float32,
        "FLOAT8" => Float64,
        "NUMERIC" => Decimal,
        // `CHAR` is `BPCHAR` (char(n)); `"CHAR"` is the internal one-byte type; `UNKNOWN` is
        // an untyped literal; `XML` and `CITEXT` travel as text in binary form too.
        "TEXT" | "VARCHAR" | "CHAR" | "\"CHAR\"" | "BPCHAR" | "NAME" | "UNKNOWN" | "CITEXT"
        | "XML" => Text,
        "BYTEA" => Bytes,
        "JSON" => Json,
        "JSONB" => Jsonb,
        "UUID" => Uuid,
        "DATE" => Date,
        "TIME" => Time,
        "TIMETZ" => TimeTz,
        "TIMESTAMP" => Timestamp,
        "TIMESTAMPTZ" => TimestampTz,
        "INTERVAL" => Interval,
        "INET" | "CIDR" => Inet,
        "MACADDR" | "MACADDR8" => MacAddr,
        "BIT" | "VARBIT" => BitString,
        _ => Other,
    }
}

fn mysql(name: &str) -> ColumnKind {
    use ColumnKind::*;
    match name {
        "NULL" => Null,
        // `BOOLEAN` is `TINYINT(1)`, which holds -128..127: a number, so that a 2 stored in
        // it reads back as 2 rather than as `true`.
        "BOOLEAN" | "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => Int,
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
        | "BIGINT UNSIGNED" | "YEAR" | "BIT" => UInt,
        "FLOAT" => Float32,
        "DOUBLE" => Float64,
        "DECIMAL" => Decimal,
        "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "BINARY"
        | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => TextOrBytes,
        "ENUM" | "SET" => Text,
        "GEOMETRY" => Bytes,
        // MySQL's own JSON type; MariaDB's JSON is LONGTEXT on the wire and reads as a string.
        "JSON" => Json,
        "DATE" => Date,
        "TIME" => Time,
        "DATETIME" => Timestamp,
        // TIMESTAMP is stored in UTC and shown in the session's time zone, which sqlx sets to
        // +00:00 on every connection: a point in time, so it carries its `Z`.
        "TIMESTAMP" => TimestampTz,
        _ => Other,
    }
}

#[cfg(test)]
mod tests {
    use super::ColumnKind::*;
    use super::*;

    fn pg(name: &str) -> ColumnKind {
        classify(SqlEngine::Postgresql, name)
    }

    fn my(name: &str) -> ColumnKind {
        classify(SqlEngine::Mysql, name)
    }

    #[test]
    fn postgres_names() {
        for (name, kind) in [
            ("INT2", Int),
            ("INT4", Int),
            ("INT8", Int),
            ("OID", UInt),
            ("FLOAT4", Float32),
            ("FLOAT8", Float64),
            ("NUMERIC", Decimal),
            ("BOOL", Bool),
            ("TEXT", Text),
            ("VARCHAR", Text),
            ("CHAR", Text),
            ("NAME", Text),
            ("citext", Text),
            ("JSON", Json),
            ("JSONB", Jsonb),
            ("UUID", Uuid),
            ("BYTEA", Bytes),
            ("DATE", Date),
            ("TIME", Time),
            ("TIMETZ", TimeTz),
            ("TIMESTAMP", Timestamp),
            ("TIMESTAMPTZ", TimestampTz),
            ("INTERVAL", Interval),
            ("INET", Inet),
            ("CIDR", Inet),
            ("MACADDR", MacAddr),
            ("VARBIT", BitString),
            ("VOID", Null),
            ("INT4[]", Array),
            ("TEXT[]", Array),
            ("MONEY", Other),
            ("RECORD", Other),
            ("hstore", Other),
        ] {
            assert_eq!(pg(name), kind, "{name}");
        }
    }

    #[test]
    fn mysql_names() {
        for (name, kind) in [
            ("TINYINT", Int),
            ("BOOLEAN", Int),
            ("BIGINT", Int),
            ("INT UNSIGNED", UInt),
            ("BIGINT UNSIGNED", UInt),
            ("YEAR", UInt),
            ("BIT", UInt),
            ("FLOAT", Float32),
            ("DOUBLE", Float64),
            ("DECIMAL", Decimal),
            ("VARCHAR", TextOrBytes),
            ("VARBINARY", TextOrBytes),
            ("LONGBLOB", TextOrBytes),
            ("ENUM", Text),
            ("JSON", Json),
            ("DATE", Date),
            ("TIME", Time),
            ("DATETIME", Timestamp),
            ("TIMESTAMP", TimestampTz),
            ("GEOMETRY", Bytes),
            ("NULL", Null),
        ] {
            assert_eq!(my(name), kind, "{name}");
        }
    }

    #[test]
    fn the_same_name_can_mean_different_things() {
        // MySQL TIMESTAMP is an instant; PostgreSQL TIMESTAMP is a wall-clock reading.
        assert_eq!(my("TIMESTAMP"), TimestampTz);
        assert_eq!(pg("TIMESTAMP"), Timestamp);
        // PostgreSQL CHAR is bpchar (text); MySQL CHAR may hold bytes.
        assert_eq!(pg("CHAR"), Text);
        assert_eq!(my("CHAR"), TextOrBytes);
    }
}
